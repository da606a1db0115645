/** The simulator's only source of randomness (mulberry32), shared with other packages' tests. */
export { SeededRandom } from '@sipedge/core/testing';

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
