/** Time and timers, injected so transactions can run on a virtual clock in tests. */
export interface Clock {
  now(): number;
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
}

/** The real clock (Date.now and setTimeout; timers are unref'd so they never hold the process). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

/** A deterministic clock: timers fire only inside `advance()`, in time order. */
export class VirtualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Map<number, Pending>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): unknown {
    const seq = ++this.#seq;
    this.#timers.set(seq, { at: this.#now + Math.max(0, ms), seq, fn });
    return seq;
  }

  clearTimer(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order (at most 100,000 of them). */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      let next: Pending | undefined;
      for (const t of this.#timers.values()) {
        if (
          t.at <= until &&
          (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))
        )
          next = t;
      }
      if (next === undefined) break;
      this.#timers.delete(next.seq);
      this.#now = next.at;
      next.fn();
    }
    this.#now = until;
  }
}
