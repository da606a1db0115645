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

  it('forgets the key let through longest ago past maxKeys', () => {
    const clock = new VirtualClock();
    const limiter = new LogLimiter({ clock, maxKeys: 2 });
    limiter.admit('a');
    limiter.admit('b');
    limiter.admit('c');
    expect(limiter.size).toBe(2);
    expect(limiter.admit('b')).toBeUndefined();
    expect(limiter.admit('a')).toBe(0);
  });
});
