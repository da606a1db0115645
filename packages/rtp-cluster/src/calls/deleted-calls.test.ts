import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeletedCalls } from './deleted-calls.js';

/** The same table as plain objects: what DeletedCalls must behave like. */
class Model {
  rows: { callId: string; member: string; lastSeen: number; deletedAt: number }[] = [];
  find(callId: string) {
    return this.rows.find((r) => r.callId === callId);
  }
  add(callId: string, member: string, lastSeen: number, deletedAt: number): void {
    this.rows.push({ callId, member, lastSeen, deletedAt });
  }
  remove(callId: string): boolean {
    const i = this.rows.findIndex((r) => r.callId === callId);
    if (i < 0) return false;
    this.rows.splice(i, 1);
    return true;
  }
  expire(before: number): [string, string][] {
    const out: [string, string][] = [];
    while (this.rows.length > 0 && this.rows[0]!.deletedAt < before) {
      const r = this.rows.shift()!;
      out.push([r.callId, r.member]);
    }
    return out;
  }
}

const callId = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h') },
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  // code units above 0xff, and lone surrogates: stored as UTF-16 code units, unchanged
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }) },
);
const member = fc.constantFrom('m1', 'm2', 'm3');

type Op =
  | { op: 'add'; callId: string; member: string }
  | { op: 'remove'; callId: string }
  | { op: 'expire'; back: number }
  | { op: 'evict' }
  | { op: 'removeMember'; member: string };

const ops = fc.array(
  fc.oneof(
    { weight: 8, arbitrary: fc.record({ op: fc.constant('add' as const), callId, member }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('remove' as const), callId }) },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('expire' as const), back: fc.nat({ max: 60 }) }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('evict' as const) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('removeMember' as const), member }) },
  ),
  { maxLength: 400 },
) as fc.Arbitrary<Op[]>;

describe('DeletedCalls', () => {
  it('behaves as an ordered list of deleted calls under any sequence of operations', () => {
    fc.assert(
      fc.property(ops, (list) => {
        const d = new DeletedCalls();
        const m = new Model();
        let t = 0;
        for (const o of list) {
          t++;
          switch (o.op) {
            case 'add':
              // as the call table does: a call is here at most once
              expect(d.remove(o.callId)).toBe(m.remove(o.callId));
              d.add(o.callId, o.member, t - 0.5, t);
              m.add(o.callId, o.member, t - 0.5, t);
              break;
            case 'remove':
              expect(d.remove(o.callId)).toBe(m.remove(o.callId));
              break;
            case 'expire': {
              const got: [string, string][] = [];
              const n = d.expire(
                (at) => at < t - o.back,
                (c, mem) => got.push([c, mem]),
              );
              expect(got).toEqual(m.expire(t - o.back));
              expect(n).toBe(got.length);
              break;
            }
            case 'evict': {
              const first = m.rows.shift();
              expect(d.evictOldest()).toEqual(
                first === undefined ? undefined : { callId: first.callId, member: first.member },
              );
              break;
            }
            case 'removeMember': {
              const got: string[] = [];
              const n = d.removeMember(o.member, (c) => got.push(c));
              const gone = m.rows.filter((r) => r.member === o.member).map((r) => r.callId);
              m.rows = m.rows.filter((r) => r.member !== o.member);
              expect([...got].sort()).toEqual([...gone].sort());
              expect(n).toBe(gone.length);
              break;
            }
          }
          expect(d.size).toBe(m.rows.length);
        }
        expect([...d.entries()]).toEqual(m.rows);
        for (const r of m.rows) {
          expect(d.member(r.callId)).toBe(r.member);
          expect(d.lastSeen(r.callId)).toBe(r.lastSeen);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('holds many calls across growth of its rows, index and arena, and rotates generations', () => {
    const d = new DeletedCalls();
    const n = 20_000;
    for (let i = 0; i < n; i++) d.add(`call-${i}@host.example`, `m${i % 3}`, i, i);
    expect(d.size).toBe(n);
    for (let i = 0; i < n; i += 997) expect(d.member(`call-${i}@host.example`)).toBe(`m${i % 3}`);
    expect(d.member('call-20000@host.example')).toBeUndefined();
    // the first half expires; later adds land in a fresh generation
    const expired: string[] = [];
    expect(
      d.expire(
        (at) => at < n / 2,
        (c) => expired.push(c),
      ),
    ).toBe(n / 2);
    expect(expired[0]).toBe('call-0@host.example');
    expect(expired.at(-1)).toBe(`call-${n / 2 - 1}@host.example`);
    for (let i = n; i < n + 100; i++) d.add(`call-${i}@host.example`, 'm0', i, i);
    expect(
      d.expire(
        (at) => at < n,
        () => {},
      ),
    ).toBe(n / 2);
    expect(d.size).toBe(100);
    expect(d.member(`call-${n}@host.example`)).toBe('m0');
    expect(d.member(`call-${n - 1}@host.example`)).toBeUndefined();
    expect([...d.entries()].map((e) => e.deletedAt)).toEqual(
      Array.from({ length: 100 }, (_, i) => n + i),
    );
  });

  it('gives back a long call-id exactly', () => {
    const d = new DeletedCalls();
    const long = 'x'.repeat(5000) + '\u20ac' + 'y'.repeat(5000);
    d.add(long, 'm', 1, 1);
    expect(d.member(long)).toBe('m');
    expect(d.member(long.slice(1))).toBeUndefined();
    expect([...d.entries()][0]?.callId).toBe(long);
  });
});
