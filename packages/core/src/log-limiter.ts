/**
 * Lets one log line per key (a source address, a peer and a reason) through per interval and
 * counts the lines it held back, so that a flood of refused connections or bad input costs one
 * line a minute per sender instead of one per packet. Sans-I/O: time comes from a Clock; the
 * caller writes the line.
 *
 * Bounded both ways under a spray of keys (an attacker picking a new source address for every
 * packet): at most `maxKeys` keys are remembered, and keys that find the table full share one
 * slot, so together they still get one line per interval.
 */
import type { Clock } from './clock.js';
import { monotonicClock } from './clock.js';

export interface LogLimiterOptions {
  readonly clock?: Pick<Clock, 'now'>;
  /** One line per key per this many ms, default 60,000. */
  readonly intervalMs?: number;
  /**
   * Keys remembered at most, default 1,024. Past it, keys that are new share one slot until
   * the interval of remembered ones is over.
   */
  readonly maxKeys?: number;
}

interface Slot {
  /** When the current interval of this key began. */
  since: number;
  /** Lines held back in it. */
  held: number;
}

/** How often a full table is scanned for keys whose interval is over, at most. */
const SWEEP_EVERY_MS = 1000;

export class LogLimiter {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #intervalMs: number;
  readonly #maxKeys: number;
  readonly #slots = new Map<string, Slot>();
  /** The slot of every key that found the table full. */
  readonly #overflow: Slot = { since: Number.NEGATIVE_INFINITY, held: 0 };
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(options: LogLimiterOptions = {}) {
    this.#clock = options.clock ?? monotonicClock;
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#maxKeys = options.maxKeys ?? 1024;
  }

  /**
   * Whether a line about `key` may be written now: the number of lines held back for it since
   * the last one (0 for the first; log it as `suppressed`), or undefined to stay silent.
   */
  admit(key: string): number | undefined {
    const now = this.#clock.now();
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      if (this.#slots.size >= this.#maxKeys) this.#sweep(now);
      if (this.#slots.size >= this.#maxKeys) return this.#pass(this.#overflow, now);
      slot = { since: now, held: 0 };
      this.#slots.set(key, slot);
      return 0;
    }
    return this.#pass(slot, now);
  }

  /** Keys remembered now (at most `maxKeys`). */
  get size(): number {
    return this.#slots.size;
  }

  #pass(slot: Slot, now: number): number | undefined {
    if (now - slot.since < this.#intervalMs) {
      slot.held++;
      return undefined;
    }
    const held = slot.held;
    slot.since = now;
    slot.held = 0;
    return held;
  }

  /** Forgets the keys whose interval is over (at most once a second: a spray costs no scans). */
  #sweep(now: number): void {
    if (now - this.#sweptAt < SWEEP_EVERY_MS) return;
    this.#sweptAt = now;
    for (const [key, slot] of this.#slots) {
      if (now - slot.since >= this.#intervalMs) this.#slots.delete(key);
    }
  }
}
