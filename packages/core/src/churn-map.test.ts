import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChurnMap } from './churn-map.js';

type Op<K> =
  | { op: 'set'; key: K; value: number }
  | { op: 'delete'; key: K }
  | { op: 'get'; key: K }
  | { op: 'clear' };

function ops<K>(key: fc.Arbitrary<K>): fc.Arbitrary<Op<K>[]> {
  return fc.array(
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({ op: fc.constant('set' as const), key, value: fc.nat() }),
      },
      { weight: 5, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('get' as const), key }) },
      { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
    ),
    { maxLength: 600 },
  ) as fc.Arbitrary<Op<K>[]>;
}

function check<K extends string | number>(list: Op<K>[]): void {
  const m = new ChurnMap<K, number>(16);
  const model = new Map<K, number>();
  for (const o of list) {
    switch (o.op) {
      case 'set':
        m.set(o.key, o.value);
        model.set(o.key, o.value);
        break;
      case 'delete':
        expect(m.delete(o.key)).toBe(model.delete(o.key));
        break;
      case 'get':
        expect(m.get(o.key)).toBe(model.get(o.key));
        expect(m.has(o.key)).toBe(model.has(o.key));
        break;
      case 'clear':
        m.clear();
        model.clear();
        break;
    }
    expect(m.size).toBe(model.size);
  }
  expect([...m.values()].sort((a, b) => a - b)).toEqual([...model.values()].sort((a, b) => a - b));
  const seen = new Map<K, number>();
  m.forEach((v, k) => {
    seen.set(k, v);
  });
  expect(seen).toEqual(model);
  for (const [k, v] of model) expect(m.get(k)).toBe(v);
}

describe('ChurnMap', () => {
  it('behaves as a Map with string keys under any sequence of operations', () => {
    // few distinct keys, so that sets, deletes and tombstones hit the same slots
    const key = fc.oneof(
      fc.constantFrom('a', 'b', 'c', '12_1', '12_2'),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(fc.property(ops(key), check), { numRuns: 300 });
  });

  it('behaves as a Map with integer keys, colliding ones included', () => {
    // multiples of a power of two share their low bits: they probe the same chain
    const key = fc.oneof(
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 40 }).map((k) => k * 1024),
    );
    fc.assert(fc.property(ops(key), check), { numRuns: 300 });
  });

  it('keeps working through growth and many sweeps of a steady churn', () => {
    const m = new ChurnMap<string, number>();
    for (let i = 0; i < 20_000; i++) {
      m.set(`c${i}`, i);
      if (i >= 16) expect(m.delete(`c${i - 16}`)).toBe(true);
    }
    expect(m.size).toBe(16);
    expect(m.get('c19999')).toBe(19_999);
    expect(m.get('c19983')).toBeUndefined();
    for (let i = 0; i < 1000; i++) m.set(`k${i}`, i);
    expect(m.size).toBe(1016);
    expect(m.get('k999')).toBe(999);
  });
});
