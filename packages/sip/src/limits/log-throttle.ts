/**
 * Log lines about what peers send (refused connections, bad input, floods) at most once per
 * key (usually the source address) per interval, so that an attacker cannot turn every packet
 * into a line on disk. Sans-I/O: time comes from a Clock; the caller writes the line.
 */
import { type Clock, monotonicClock } from '@sipedge/core';

export interface LogThrottleOptions {
  readonly clock?: Pick<Clock, 'now'>;
  /** One line per key per this many ms (default 60,000). */
  readonly intervalMs?: number;
  /**
   * Most keys remembered (default 1,024). Past it, keys that are new in this interval share
   * one slot, so a spray of source addresses still logs one line per interval.
   */
  readonly maxKeys?: number;
}

interface Slot {
  /** When the current interval of this key began. */
  since: number;
  /** Lines suppressed in it. */
  suppressed: number;
}

export class LogThrottle {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #interval: number;
  readonly #maxKeys: number;
  readonly #slots = new Map<string, Slot>();
  /** The slot of every key that found the table full. */
  readonly #overflow: Slot = { since: Number.NEGATIVE_INFINITY, suppressed: 0 };
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(options: LogThrottleOptions = {}) {
    this.#clock = options.clock ?? monotonicClock;
    this.#interval = options.intervalMs ?? 60_000;
    this.#maxKeys = options.maxKeys ?? 1024;
  }

  /**
   * May a line about `key` be written now? Returns how many lines about it were suppressed
   * since the last one (0 for the first), or `undefined` when this one is to be suppressed.
   * Keys that find the table full share one slot: one line per interval among them all.
   */
  admit(key: string): number | undefined {
    const now = this.#clock.now();
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      if (this.#slots.size >= this.#maxKeys) this.#sweep(now);
      if (this.#slots.size >= this.#maxKeys) return this.#pass(this.#overflow, now);
      slot = { since: now, suppressed: 0 };
      this.#slots.set(key, slot);
      return 0;
    }
    return this.#pass(slot, now);
  }

  /** Keys remembered (at most `maxKeys`). */
  get size(): number {
    return this.#slots.size;
  }

  #pass(slot: Slot, now: number): number | undefined {
    if (now - slot.since < this.#interval) {
      slot.suppressed++;
      return undefined;
    }
    const suppressed = slot.suppressed;
    slot.since = now;
    slot.suppressed = 0;
    return suppressed;
  }

  /** Forgets the keys whose interval is over (at most once a second: a spray costs no scans). */
  #sweep(now: number): void {
    if (now - this.#sweptAt < 1000) return;
    this.#sweptAt = now;
    for (const [key, slot] of this.#slots) {
      if (now - slot.since >= this.#interval) this.#slots.delete(key);
    }
  }
}
