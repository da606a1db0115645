/**
 * The one way tests wait for a condition: `until(probe, { what })`. Woken by events when the
 * caller can name them, polled a bounded number of times otherwise; it never sleeps to order
 * events, and a failure names what was awaited.
 */

export interface UntilOptions {
  /**
   * What is awaited, as the failure message names it ("node 2 to see node 1 up"); a function is
   * asked at failure time, so it can describe the state reached ("3 of 5 packets").
   */
  readonly what: string | (() => string);
  /** Failure bound, not a timing claim: sized for a loaded machine (default 10 s). */
  readonly timeoutMs?: number;
  /** Pause between two checks when polling (default 50 ms). */
  readonly intervalMs?: number;
  /**
   * Event-driven waiting: subscribes `recheck` to whatever can change the answer and returns the
   * unsubscribe. The probe then runs once at the start and again on each event, never on a timer.
   */
  readonly wake?: (recheck: () => void) => () => void;
}

/** A probe's answer "not yet, because …": `until` keeps waiting and a failure gives the reason. */
export class NotYet {
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

/** For a probe that says why it is not done yet: `return done || notYet('3 missing')`. */
export function notYet(reason: string): NotYet {
  return new NotYet(reason);
}

/** The answers that mean "not yet". */
type Pending = false | undefined | null | NotYet;

export const UNTIL_DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_INTERVAL_MS = 50;

/**
 * Resolves with the probe's first answer that is not `false`, `undefined`, `null` or a `NotYet`.
 * A probe that throws has not answered yet either. Rejects after `timeoutMs`, or once polling has
 * used its checks (one per `intervalMs` over `timeoutMs`), with a message naming `what` and the
 * last `NotYet` reason or error (the error is also its cause). Checks never overlap: an async
 * probe is awaited before the next one starts.
 */
export function until<T>(
  probe: () => T | Promise<T>,
  options: UntilOptions,
): Promise<Exclude<T, Pending>> {
  const timeoutMs = options.timeoutMs ?? UNTIL_DEFAULT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const maxChecks = options.wake === undefined ? Math.ceil(timeoutMs / intervalMs) + 1 : Infinity;
  return new Promise((resolve, reject) => {
    let checks = 0;
    let lastError: unknown;
    let lastReason: string | undefined;
    let running = false;
    let again = false;
    let settled = false;
    let poll: ReturnType<typeof setTimeout> | undefined;
    let unsubscribe: () => void = () => {};

    const finish = (): void => {
      settled = true;
      clearTimeout(deadline);
      clearTimeout(poll);
      unsubscribe();
    };
    const fail = (why: string): void => {
      finish();
      const what = typeof options.what === 'function' ? options.what() : options.what;
      const last =
        lastReason !== undefined
          ? `; last: ${lastReason}`
          : lastError instanceof Error
            ? `; last error: ${lastError.message}`
            : '';
      reject(new Error(`${why} waiting for ${what}${last}`, { cause: lastError }));
    };
    const deadline = setTimeout(
      () => fail(`timed out after ${timeoutMs} ms (${checks} checks)`),
      timeoutMs,
    );

    const settle = (value: T): boolean => {
      if (value instanceof NotYet) {
        lastReason = value.reason;
        return false;
      }
      if (value === false || value === undefined || value === null) return false;
      finish();
      resolve(value as Exclude<T, Pending>);
      return true;
    };
    const next = (): void => {
      if (settled) return;
      if (again) {
        again = false;
        check();
      } else if (options.wake === undefined) {
        if (checks >= maxChecks) fail(`gave up after ${checks} checks in ${timeoutMs} ms`);
        else poll = setTimeout(check, intervalMs);
      }
    };
    const check = (): void => {
      if (settled) return;
      if (running) {
        again = true;
        return;
      }
      checks++;
      let answer: T | Promise<T>;
      try {
        answer = probe();
      } catch (err) {
        lastError = err;
        lastReason = undefined;
        next();
        return;
      }
      if (!(answer instanceof Promise)) {
        if (!settle(answer)) next();
        return;
      }
      running = true;
      answer.then(
        (value) => {
          running = false;
          if (!settled && !settle(value)) next();
        },
        (err: unknown) => {
          running = false;
          lastError = err;
          lastReason = undefined;
          next();
        },
      );
    };

    if (options.wake !== undefined) unsubscribe = options.wake(check);
    check();
  });
}
