/** mulberry32: a small seeded PRNG; the simulator's only source of randomness. */
export class SeededRandom {
  #s: number;
  constructor(readonly seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

/**
 * Run `fn` with a seed (from SIM_SEED when set, else `seed`); a failure is re-thrown with the
 * seed in its message so the run can be replayed.
 */
export function withSeed<T>(seed: number, fn: (seed: number) => T): T {
  const env = process.env.SIM_SEED;
  const s = env !== undefined && env !== '' ? Number(env) : seed;
  try {
    return fn(s);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const err = new Error(`simulation failed with seed ${s} (replay: SIM_SEED=${s}): ${msg}`, {
      cause: e,
    });
    throw err;
  }
}
