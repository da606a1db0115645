import type { Clock } from '@sipedge/core';

/**
 * Rate limit for log lines about peers: one line per key per interval, the lines left out
 * counted into the next one. At most `maxKeys` keys are remembered (the oldest go first), so a
 * flood of distinct sources costs bounded memory.
 */
export class OncePerInterval {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #maxKeys: number;
  /** key → when it was last logged, and how many were left out since. */
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(clock: Clock, intervalMs = 60_000, maxKeys = 4096) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#maxKeys = maxKeys;
  }

  /** Should this occurrence be logged? Returns how many were left out before it, or -1 (no). */
  take(key: string): number {
    const now = this.#clock.now();
    const e = this.#last.get(key);
    if (e !== undefined && now - e.at < this.#intervalMs) {
      e.suppressed++;
      return -1;
    }
    const suppressed = e?.suppressed ?? 0;
    this.#last.delete(key);
    if (this.#last.size >= this.#maxKeys) {
      // re-inserted keys sit at the end, so the first is the one logged longest ago
      const oldest = this.#last.keys().next();
      if (oldest.done !== true) this.#last.delete(oldest.value);
    }
    this.#last.set(key, { at: now, suppressed: 0 });
    return suppressed;
  }
}
