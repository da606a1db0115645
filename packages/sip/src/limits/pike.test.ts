import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { PikeDetector, type PikeOptions, type PikeVerdict } from './pike.js';

function setup(options: PikeOptions = {}) {
  const clock = new VirtualClock(1_000_000);
  const pike = new PikeDetector({
    clock,
    samplingTimeUnitMs: 1000,
    reqsDensityPerUnit: 10,
    removeLatencyMs: 3000,
    ...options,
  });
  const send = (address: string, n: number): PikeVerdict[] =>
    Array.from({ length: n }, () => pike.check(address));
  return { clock, pike, send };
}

describe('PikeDetector', () => {
  it('blocks a source past the density in one unit, reports it once, drops the rest', () => {
    const { pike, send } = setup();
    const v = send('192.0.2.1', 15);
    expect(v.slice(0, 10).every((x) => x === 'allowed')).toBe(true);
    expect(v[10]).toBe('blocked-now');
    expect(v.slice(11).every((x) => x === 'blocked')).toBe(true);
    expect(pike.list()).toEqual([{ address: '192.0.2.1', since: 1_000_000, dropped: 5 }]);
    expect(pike.counters).toMatchObject({ blocked: 1, dropped: 5 });
  });

  it('other sources are not affected by a blocked one', () => {
    const { pike, send } = setup();
    send('192.0.2.1', 100);
    expect(send('192.0.2.2', 10).every((x) => x === 'allowed')).toBe(true);
    expect(pike.isBlocked('192.0.2.2')).toBe(false);
  });

  it('the density is per sampling unit: a steady rate under it is never blocked', () => {
    const { clock, pike, send } = setup();
    for (let i = 0; i < 100; i++) {
      expect(send('192.0.2.1', 10).every((x) => x === 'allowed')).toBe(true);
      clock.advance(1000);
    }
    expect(pike.counters.blocked).toBe(0);
  });

  it('stays blocked while the flood goes on; released after remove_latency of quiet', () => {
    const { clock, pike, send } = setup();
    const released: string[] = [];
    pike.onReleased = (a) => released.push(a);
    send('192.0.2.1', 11);
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      expect(send('192.0.2.1', 20).every((x) => x === 'blocked')).toBe(true);
    }
    // last over-density unit ends; three quiet units (a few requests under the density) follow
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      expect(send('192.0.2.1', 2)).toEqual(['blocked', 'blocked']);
    }
    expect(released).toEqual([]);
    clock.advance(1000);
    expect(pike.check('192.0.2.1')).toBe('allowed');
    expect(released).toEqual(['192.0.2.1']);
    expect(pike.counters.released).toBe(1);
    // a new flood is a new block, reported again
    expect(send('192.0.2.1', 10).at(-1)).toBe('blocked-now');
  });

  it('list() releases quiet blocks without a request arriving', () => {
    const { clock, pike, send } = setup();
    send('192.0.2.1', 11);
    clock.advance(3999);
    expect(pike.list()).toHaveLength(1);
    clock.advance(1);
    expect(pike.list()).toEqual([]);
  });

  it('remove() unblocks one source or all', () => {
    const { pike, send } = setup();
    send('192.0.2.1', 11);
    send('192.0.2.2', 11);
    send('192.0.2.3', 11);
    expect(pike.remove('192.0.2.9')).toBe(0);
    expect(pike.remove('192.0.2.1')).toBe(1);
    expect(pike.check('192.0.2.1')).toBe('allowed');
    expect(pike.remove()).toBe(2);
    expect(pike.blockedCount).toBe(0);
  });

  it('a spray of source addresses keeps the tables bounded; a flooder is still caught', () => {
    const { pike } = setup({ maxSources: 100 });
    for (let i = 0; i < 10_000; i++) {
      pike.check(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      if (i % 50 === 0) for (let k = 0; k < 11; k++) pike.check('192.0.2.66');
    }
    expect(pike.trackedCount).toBeLessThanOrEqual(100);
    expect(pike.isBlocked('192.0.2.66')).toBe(true);
    expect(pike.counters.evictedCounts).toBeGreaterThan(9000);
  });

  it('at most maxSources are blocked; the longest blocked is released first', () => {
    const { pike, send } = setup({ maxSources: 3 });
    for (let i = 1; i <= 5; i++) send(`192.0.2.${i}`, 11);
    expect(pike.list().map((b) => b.address)).toEqual(['192.0.2.3', '192.0.2.4', '192.0.2.5']);
    expect(pike.counters.evictedBlocks).toBe(2);
  });
});
