import { describe, expect, it } from 'vitest';
import { LogLimiter } from './log-limiter.js';
import { VirtualClock } from './testing/virtual-clock.js';

describe('LogLimiter', () => {
  it('lets one line per key per interval through and reports how many it held back', () => {
    const clock = new VirtualClock();
    const limiter = new LogLimiter({ clock, intervalMs: 60_000 });
    expect(limiter.admit('10.0.0.1')).toBe(0);
    for (let i = 0; i < 1999; i++) expect(limiter.admit('10.0.0.1')).toBeUndefined();
    expect(limiter.admit('10.0.0.2')).toBe(0);
    clock.advance(59_999);
    expect(limiter.admit('10.0.0.1')).toBeUndefined();
    clock.advance(1);
    expect(limiter.admit('10.0.0.1')).toBe(2000);
    expect(limiter.admit('10.0.0.1')).toBeUndefined();
  });

  it('a spray of keys beyond maxKeys shares one slot and keeps the table bounded', () => {
    const clock = new VirtualClock();
    const limiter = new LogLimiter({ clock, intervalMs: 1000, maxKeys: 4 });
    const admitted: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (limiter.admit(`10.0.${i >> 8}.${i & 255}`) !== undefined) admitted.push(i);
    }
    // four keys of their own, then one line for all the others
    expect(admitted).toEqual([0, 1, 2, 3, 4]);
    expect(limiter.size).toBe(4);
    clock.advance(1000);
    // the old keys expired: new sources get slots of their own again
    expect(limiter.admit('192.0.2.1')).toBe(0);
    expect(limiter.size).toBe(1);
  });

  it('a full table keeps the keys it has: one of them is not let through early', () => {
    const clock = new VirtualClock();
    const limiter = new LogLimiter({ clock, intervalMs: 60_000, maxKeys: 2 });
    expect(limiter.admit('a')).toBe(0);
    expect(limiter.admit('b')).toBe(0);
    expect(limiter.admit('c')).toBe(0);
    expect(limiter.admit('d')).toBeUndefined();
    expect(limiter.size).toBe(2);
    expect(limiter.admit('a')).toBeUndefined();
    clock.advance(60_000);
    expect(limiter.admit('a')).toBe(1);
    expect(limiter.admit('b')).toBe(0);
    // still full: the shared slot reports what it held back for the keys that found it so
    expect(limiter.admit('e')).toBe(1);
    expect(limiter.size).toBe(2);
  });
});
