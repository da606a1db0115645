/**
 * What the transports take from their environment: a pino-compatible logger and a clock.
 * Both are injected so that tests can run the retransmit and cache logic in virtual time.
 */

/** The subset of pino's API the transports use. */
export interface RtppLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything (the default). */
export const silentLogger: RtppLogger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/** Time and timers. `now()` is in milliseconds and only has to be monotonic. */
export interface RtppClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock: `performance.now()` and Node's timers. */
export const systemClock: RtppClock = Object.freeze({
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number): unknown => setTimeout(fn, ms),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as NodeJS.Timeout),
});
