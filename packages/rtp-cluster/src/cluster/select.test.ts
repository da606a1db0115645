import { SeededRandom } from '@sipedge/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Candidate, effectiveWeight, weightedCapacitySelection } from './select.js';

const member = (name: string, weight: number, capacity: number, active: number): Candidate => ({
  name,
  weight,
  capacity,
  activeSessions: active,
});

describe('weighted capacity selection', () => {
  it('spreads new sessions in proportion to weight × free capacity', () => {
    const members = [member('a', 1, 1000, 0), member('b', 2, 1000, 0), member('c', 3, 1000, 0)];
    const seeded = new SeededRandom(7); // reproducible spreads
    const random = () => seeded.next();
    const counts = new Map<string, number>();
    const n = 60_000;
    for (let i = 0; i < n; i++) {
      const chosen = weightedCapacitySelection(members, 'soft', random)!;
      counts.set(chosen.name, (counts.get(chosen.name) ?? 0) + 1);
    }
    // expected 1/6, 2/6, 3/6; a 1 % band is > 6 standard deviations at n = 60,000
    expect((counts.get('a') ?? 0) / n).toBeCloseTo(1 / 6, 1);
    expect(Math.abs((counts.get('b') ?? 0) / n - 2 / 6)).toBeLessThan(0.01);
    expect(Math.abs((counts.get('c') ?? 0) / n - 3 / 6)).toBeLessThan(0.01);
  });

  it('never picks a member at capacity while another has room', () => {
    const members = [member('full', 10, 100, 100), member('room', 1, 100, 99)];
    fc.assert(
      fc.property(fc.double({ min: 0, max: 0.999999, noNaN: true }), (r) => {
        expect(weightedCapacitySelection(members, 'hard', () => r)?.name).toBe('room');
      }),
    );
  });

  it('soft limit admits on the least overloaded member; hard limit refuses', () => {
    const members = [member('a', 1, 100, 150), member('b', 1, 100, 120), member('c', 5, 100, 140)];
    // effective weights: -0.5, -0.2, -2
    expect(weightedCapacitySelection(members, 'soft', () => 0.5)?.name).toBe('b');
    expect(weightedCapacitySelection(members, 'hard', () => 0.5)).toBeUndefined();
    expect(weightedCapacitySelection([], 'soft', () => 0.5)).toBeUndefined();
  });

  it('maps the random point onto the cumulative weights', () => {
    const members = [member('a', 1, 10, 0), member('b', 3, 10, 0)];
    expect(weightedCapacitySelection(members, 'soft', () => 0)?.name).toBe('a');
    expect(weightedCapacitySelection(members, 'soft', () => 0.24)?.name).toBe('a');
    expect(weightedCapacitySelection(members, 'soft', () => 0.26)?.name).toBe('b');
    expect(weightedCapacitySelection(members, 'soft', () => 0.9999999)?.name).toBe('b');
    expect(effectiveWeight(member('x', 4, 10, 5))).toBe(2);
  });
});
