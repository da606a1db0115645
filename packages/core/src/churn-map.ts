/**
 * A map for sets that churn: an entry per command in flight, added when it is sent and removed
 * when it is answered. V8's `Map` reallocates its table each time its size crosses a quarter
 * of its capacity on the way down and all of it on the way up, which a map of commands in
 * flight does all the time: in the balancer two such maps made a quarter of everything it
 * allocated. This one is open addressing over arrays that only ever grow; a removed entry
 * leaves a tombstone, and the tombstones are swept out when they and the live entries fill half
 * of the slots.
 *
 * Keys are strings or integers (integers are used as their own hash). Iteration order is not
 * insertion order.
 */

import { fnv1a } from './hash.js';

const EMPTY = 0;
const USED = 1;
const GONE = 2;

function hashOf(key: string | number): number {
  return typeof key === 'number' ? Math.imul(key | 0, 0x9e3779b1) : fnv1a(key);
}

export class ChurnMap<K extends string | number, V> {
  #state: Uint8Array;
  #keys: (K | undefined)[];
  #values: (V | undefined)[];
  #size = 0;
  #gone = 0;

  constructor(initialSlots = 64) {
    let n = 16;
    while (n < initialSlots) n *= 2;
    this.#state = new Uint8Array(n);
    this.#keys = new Array<K | undefined>(n).fill(undefined);
    this.#values = new Array<V | undefined>(n).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  /** The slot holding `key`, or -1. */
  #find(key: K): number {
    const state = this.#state;
    const mask = state.length - 1;
    for (let i = hashOf(key) & mask; ; i = (i + 1) & mask) {
      const s = state[i]!;
      if (s === EMPTY) return -1;
      if (s === USED && this.#keys[i] === key) return i;
    }
  }

  get(key: K): V | undefined {
    const i = this.#find(key);
    return i < 0 ? undefined : this.#values[i];
  }

  has(key: K): boolean {
    return this.#find(key) >= 0;
  }

  set(key: K, value: V): void {
    const found = this.#find(key);
    if (found >= 0) {
      this.#values[found] = value;
      return;
    }
    // at most half the slots in use or dead, so that a probe soon finds an empty one
    if ((this.#size + this.#gone + 1) * 2 > this.#state.length) this.#rebuild();
    const state = this.#state;
    const mask = state.length - 1;
    let i = hashOf(key) & mask;
    while (state[i] === USED) i = (i + 1) & mask;
    if (state[i] === GONE) this.#gone--;
    state[i] = USED;
    this.#keys[i] = key;
    this.#values[i] = value;
    this.#size++;
  }

  delete(key: K): boolean {
    const i = this.#find(key);
    if (i < 0) return false;
    this.#state[i] = GONE;
    this.#keys[i] = undefined;
    this.#values[i] = undefined;
    this.#size--;
    this.#gone++;
    return true;
  }

  clear(): void {
    this.#state.fill(EMPTY);
    this.#keys.fill(undefined);
    this.#values.fill(undefined);
    this.#size = 0;
    this.#gone = 0;
  }

  /** Calls `fn` for every entry; `fn` must not change the map. */
  forEach(fn: (value: V, key: K) => void): void {
    const state = this.#state;
    for (let i = 0; i < state.length; i++) {
      if (state[i] === USED) fn(this.#values[i]!, this.#keys[i]!);
    }
  }

  /** The values, as an array taken now: the map may change while it is walked. */
  values(): V[] {
    const out: V[] = [];
    for (let i = 0; i < this.#state.length; i++) {
      if (this.#state[i] === USED) out.push(this.#values[i]!);
    }
    return out;
  }

  /** Arrays of the size in use, kept for the next sweep (a sweep at the same size allocates nothing). */
  #spare: { state: Uint8Array; keys: (K | undefined)[]; values: (V | undefined)[] } | undefined;

  /**
   * Sweeps the tombstones out, and doubles the slots while live entries fill an eighth of them:
   * a sweep then comes after at least three eighths of the slots have been used again.
   */
  #rebuild(): void {
    const state = this.#state;
    const keys = this.#keys;
    const values = this.#values;
    let n = state.length;
    while ((this.#size + 1) * 8 > n) n *= 2;
    const spare = this.#spare;
    if (spare !== undefined && spare.state.length === n) {
      this.#state = spare.state;
      this.#keys = spare.keys;
      this.#values = spare.values;
    } else {
      this.#state = new Uint8Array(n);
      this.#keys = new Array<K | undefined>(n).fill(undefined);
      this.#values = new Array<V | undefined>(n).fill(undefined);
    }
    this.#size = 0;
    this.#gone = 0;
    for (let i = 0; i < state.length; i++) {
      if (state[i] === USED) this.set(keys[i]!, values[i]!);
    }
    state.fill(EMPTY);
    keys.fill(undefined);
    values.fill(undefined);
    if (spare === undefined) this.#spare = { state, keys, values };
    else {
      spare.state = state;
      spare.keys = keys;
      spare.values = values;
    }
  }
}
