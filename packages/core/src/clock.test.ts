import { describe, expect, it } from 'vitest';
import { type Clock, monotonicClock, systemClock } from './clock.js';

describe.each([
  ['systemClock', systemClock],
  ['monotonicClock', monotonicClock],
] as [string, Clock][])('%s', (_name, clock) => {
  it('fires a timer once, and its timers do not hold the process', async () => {
    let fired = 0;
    const handle = clock.setTimeout(() => fired++, 1);
    expect((handle as NodeJS.Timeout).hasRef()).toBe(false);
    await new Promise<void>((resolve) => setTimeout(resolve, 20));
    expect(fired).toBe(1);
  });

  it('does not fire a cleared timer, and clearing twice does nothing', async () => {
    let fired = 0;
    const handle = clock.setTimeout(() => fired++, 1);
    clock.clearTimeout(handle);
    clock.clearTimeout(handle);
    await new Promise<void>((resolve) => setTimeout(resolve, 20));
    expect(fired).toBe(0);
  });
});

describe('what now() counts from', () => {
  it('systemClock reads the wall clock', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it('monotonicClock reads the time since the process started', () => {
    const before = performance.now();
    const now = monotonicClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(performance.now());
  });
});
