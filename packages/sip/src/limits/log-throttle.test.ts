import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { LogThrottle } from './log-throttle.js';

describe('LogThrottle', () => {
  it('admits one line per key per interval and reports how many it suppressed', () => {
    const clock = new VirtualClock();
    const t = new LogThrottle({ clock, intervalMs: 60_000 });
    expect(t.admit('10.0.0.1')).toBe(0);
    for (let i = 0; i < 2000; i++) expect(t.admit('10.0.0.1')).toBeUndefined();
    expect(t.admit('10.0.0.2')).toBe(0);
    clock.advance(59_999);
    expect(t.admit('10.0.0.1')).toBeUndefined();
    clock.advance(1);
    expect(t.admit('10.0.0.1')).toBe(2001);
    expect(t.admit('10.0.0.1')).toBeUndefined();
  });

  it('a spray of sources beyond maxKeys shares one slot and keeps the table bounded', () => {
    const clock = new VirtualClock();
    const t = new LogThrottle({ clock, intervalMs: 1000, maxKeys: 4 });
    const admitted: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (t.admit(`10.0.${i >> 8}.${i & 255}`) !== undefined) admitted.push(i);
    }
    // four keys of their own, then one line for all the others
    expect(admitted).toEqual([0, 1, 2, 3, 4]);
    expect(t.size).toBe(4);
    clock.advance(1000);
    // the old keys expired: new sources get slots of their own again
    expect(t.admit('192.0.2.1')).toBe(0);
    expect(t.size).toBe(1);
  });
});
