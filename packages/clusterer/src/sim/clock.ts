import type { ClusterClock, TimerHandle } from '../runtime.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A binary min-heap of timers ordered by (time, insertion). */
class TimerHeap {
  readonly #a: Timer[] = [];
  get size(): number {
    return this.#a.length;
  }
  peek(): Timer | undefined {
    return this.#a[0];
  }
  #less(i: number, j: number): boolean {
    const x = this.#a[i] as Timer;
    const y = this.#a[j] as Timer;
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }
  #swap(i: number, j: number): void {
    const t = this.#a[i] as Timer;
    this.#a[i] = this.#a[j] as Timer;
    this.#a[j] = t;
  }
  push(t: Timer): void {
    this.#a.push(t);
    let i = this.#a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }
  pop(): Timer | undefined {
    const top = this.#a[0];
    const last = this.#a.pop();
    if (this.#a.length > 0 && last !== undefined) {
      this.#a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.#a.length && this.#less(l, m)) m = l;
        if (r < this.#a.length && this.#less(r, m)) m = r;
        if (m === i) break;
        this.#swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/**
 * Virtual time for the simulator: timers fire only when the test advances the clock, in
 * (time, scheduling order), so a run is a pure function of its seed.
 */
export class VirtualClock implements ClusterClock {
  #t: number;
  #seq = 0;
  readonly #heap = new TimerHeap();
  /** Timer callbacks run so far. */
  fired = 0;

  constructor(start = 1_700_000_000_000) {
    this.#t = start;
  }

  now(): number {
    return this.#t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.#t + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#heap.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    (handle as Timer).cancelled = true;
  }

  /** Run every timer due up to now + ms (bounded by `maxEvents`), then set the time. */
  advance(ms: number, maxEvents = 10_000_000): void {
    const until = this.#t + ms;
    let n = 0;
    for (;;) {
      const next = this.#heap.peek();
      if (next === undefined || next.at > until) break;
      this.#heap.pop();
      if (next.cancelled) continue;
      this.#t = next.at;
      if (++n > maxEvents)
        throw new Error(`more than ${maxEvents} timer events in ${ms} ms of virtual time`);
      this.fired++;
      next.fn();
    }
    this.#t = until;
  }

  /** Advance in `step` increments until `done()` or `maxMs` of virtual time; returns the time taken or -1. */
  runUntil(done: () => boolean, maxMs: number, step = 10): number {
    const start = this.#t;
    while (this.#t - start < maxMs) {
      if (done()) return this.#t - start;
      this.advance(step);
    }
    return done() ? this.#t - start : -1;
  }
}
