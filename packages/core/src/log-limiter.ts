/**
 * Lets one log line per key (a source address, a peer) through per interval and counts the
 * lines it held back, so a flood of refused connections or bad commands costs one line a minute
 * per sender instead of one per packet. Memory is bounded: past `maxKeys` the key seen longest
 * ago is forgotten (it may then log again early, never more than once per arrival).
 */
import type { Clock } from './clock.js';
import { monotonicClock } from './clock.js';

export interface LogLimiterOptions {
  readonly clock?: Pick<Clock, 'now'>;
  /** One line per key per this many ms, default 60,000. */
  readonly intervalMs?: number;
  /** Keys remembered at most, default 1,024. */
  readonly maxKeys?: number;
}

interface Slot {
  at: number;
  held: number;
}

export class LogLimiter {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #intervalMs: number;
  readonly #maxKeys: number;
  /** In the order keys were last let through: the first is the one to forget. */
  readonly #slots = new Map<string, Slot>();

  constructor(options: LogLimiterOptions = {}) {
    this.#clock = options.clock ?? monotonicClock;
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#maxKeys = options.maxKeys ?? 1024;
  }

  /**
   * Whether a line about `key` may be written now: the number of lines held back for it since
   * the last one (log it as `suppressed`), or undefined to stay silent.
   */
  admit(key: string): number | undefined {
    const now = this.#clock.now();
    const slot = this.#slots.get(key);
    if (slot !== undefined && now - slot.at < this.#intervalMs) {
      slot.held++;
      return undefined;
    }
    const held = slot?.held ?? 0;
    this.#slots.delete(key);
    this.#slots.set(key, { at: now, held: 0 });
    if (this.#slots.size > this.#maxKeys) {
      const oldest = this.#slots.keys().next();
      if (oldest.done !== true) this.#slots.delete(oldest.value);
    }
    return held;
  }

  /** Keys remembered now. */
  get size(): number {
    return this.#slots.size;
  }
}
