/**
 * Time for the engine: wall-clock milliseconds and one repeating timer. Injected so that unit
 * tests drive session timeouts without waiting.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for TTLs. */
  now(): number;
  /** Calls `fn` every `ms` milliseconds until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

/** A clock that only moves when told to: `advance(ms)` fires due timers in order. */
export class ManualClock implements Clock {
  #now: number;
  readonly #timers = new Set<{ ms: number; next: number; fn: () => void }>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  every(ms: number, fn: () => void): () => void {
    if (!(ms > 0)) throw new RangeError('interval must be positive');
    const timer = { ms, next: this.#now + ms, fn };
    this.#timers.add(timer);
    return () => {
      this.#timers.delete(timer);
    };
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    // bounded: each iteration fires one timer at least one interval later
    for (let guard = 0; guard < 1_000_000; guard++) {
      let due: { ms: number; next: number; fn: () => void } | undefined;
      for (const t of this.#timers)
        if (t.next <= end && (due === undefined || t.next < due.next)) due = t;
      if (due === undefined) break;
      this.#now = due.next;
      due.next += due.ms;
      due.fn();
    }
    this.#now = end;
  }
}
