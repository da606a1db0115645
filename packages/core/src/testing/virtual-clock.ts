import type { Clock, TimerHandle } from '../clock.js';

/** A timer set on a VirtualClock, and its handle. `fn` is undefined once fired or cleared. */
class Timer {
  constructor(
    readonly clock: VirtualClock,
    readonly at: number,
    readonly seq: number,
    public fn: (() => void) | undefined,
  ) {}
}

/** True when `a` fires before `b`: earlier time first, then the order they were set in. */
function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Lets pending promise chains run: `rounds` turns of the event loop. */
export async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A clock for tests and simulators: time moves only when the test moves it, and timers fire
 * only inside `advance`, `advanceAsync` or `runUntil`, in order of due time and, at the same
 * time, in the order they were set. A run is therefore a pure function of its inputs.
 *
 * Timers live in a binary heap, so a simulator with thousands of nodes' timers stays fast;
 * a cleared timer leaves the heap when its time comes.
 */
export class VirtualClock implements Clock {
  #now: number;
  #seq = 0;
  #live = 0;
  #fired = 0;
  readonly #heap: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = new Timer(this, this.#now + (ms > 0 ? ms : 0), this.#seq++, fn);
    this.#push(timer);
    this.#live++;
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    if (handle instanceof Timer && handle.clock === this && handle.fn !== undefined) {
      handle.fn = undefined;
      this.#live--;
    }
  }

  /** Timers set and neither fired nor cleared. */
  get pending(): number {
    return this.#live;
  }

  /** The due times of the pending timers, earliest first. */
  get dueTimes(): number[] {
    const times: number[] = [];
    for (const t of this.#heap) if (t.fn !== undefined) times.push(t.at);
    return times.sort((a, b) => a - b);
  }

  /** Timer callbacks run so far. */
  get fired(): number {
    return this.#fired;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way (including those
   * the callbacks set), each at its own time; then time is now + `ms`. Throws when more than
   * `maxEvents` fire: a timer that re-arms itself at 0 ms would never let time move.
   */
  advance(ms: number, maxEvents = 10_000_000): void {
    const until = this.#until(ms);
    let n = 0;
    for (let t = this.#take(until); t !== undefined; t = this.#take(until)) {
      this.#fire(t, ++n, maxEvents, ms);
    }
    this.#now = until;
  }

  /**
   * As `advance`, but awaits `settle` after each timer and at the end, so that the promise
   * chains a timer starts run before the next timer fires. `settle` defaults to `flush()`.
   */
  async advanceAsync(
    ms: number,
    settle: () => Promise<void> = flush,
    maxEvents = 10_000_000,
  ): Promise<void> {
    const until = this.#until(ms);
    let n = 0;
    for (let t = this.#take(until); t !== undefined; t = this.#take(until)) {
      this.#fire(t, ++n, maxEvents, ms);
      await settle();
    }
    this.#now = until;
    await settle();
  }

  /**
   * Advances in steps of `step` ms until `done()` holds or `maxMs` have passed. Returns the
   * virtual time it took, or -1 when `done()` still does not hold.
   */
  runUntil(done: () => boolean, maxMs: number, step = 10): number {
    const start = this.#now;
    while (this.#now - start < maxMs) {
      if (done()) return this.#now - start;
      this.advance(step);
    }
    return done() ? this.#now - start : -1;
  }

  #until(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a clock by ${ms} ms`);
    return this.#now + ms;
  }

  #fire(timer: Timer, n: number, maxEvents: number, ms: number): void {
    this.#now = timer.at;
    const fn = timer.fn as () => void;
    timer.fn = undefined;
    this.#live--;
    if (n > maxEvents) {
      throw new Error(`more than ${maxEvents} timer events in ${ms} ms of virtual time`);
    }
    this.#fired++;
    fn();
  }

  /** Takes the next pending timer due at or before `until` off the heap, if there is one. */
  #take(until: number): Timer | undefined {
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || top.at > until) return undefined;
      this.#pop();
      if (top.fn !== undefined) return top;
    }
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    let i = heap.push(timer) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Timer;
      if (!before(timer, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = timer;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const child = r < heap.length && before(heap[r] as Timer, heap[l] as Timer) ? r : l;
      const c = heap[child] as Timer;
      if (!before(c, last)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = last;
  }
}
