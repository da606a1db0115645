import { describe, expect, it } from 'vitest';
import { SeededRandom } from './seeded-random.js';

describe('SeededRandom', () => {
  it('gives the same sequence for the same seed, another for another seed', () => {
    const run = (seed: number) => {
      const r = new SeededRandom(seed);
      return Array.from({ length: 5 }, () => r.next());
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    for (const x of run(7)) expect(x >= 0 && x < 1).toBe(true);
  });

  it('keeps mulberry32 values, so recorded seeds replay the same runs', () => {
    const r = new SeededRandom(1);
    expect([r.next(), r.next()]).toEqual([0.6270739405881613, 0.002735721180215478]);
  });

  it('int stays in [lo, hi]; pick refuses an empty list', () => {
    const r = new SeededRandom(3);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(r.int(2, 4));
    expect([...seen].sort()).toEqual([2, 3, 4]);
    expect(r.pick(['a'])).toBe('a');
    expect(() => r.pick([])).toThrow(RangeError);
  });
});
