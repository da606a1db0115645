import { describe, expect, it } from 'vitest';
import { VirtualClock } from './virtual-clock.js';

describe('VirtualClock', () => {
  it('starts where it is told, and moves only when advanced', () => {
    expect(new VirtualClock().now()).toBe(0);
    const clock = new VirtualClock(0.37);
    expect(clock.now()).toBe(0.37);
    clock.advance(10);
    expect(clock.now()).toBeCloseTo(10.37);
  });

  it('fires timers in order of due time, then in the order they were set, each at its time', () => {
    const clock = new VirtualClock(1000);
    const log: string[] = [];
    clock.setTimeout(() => log.push(`c@${clock.now()}`), 30);
    clock.setTimeout(() => log.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => log.push(`b@${clock.now()}`), 10);
    clock.setTimeout(() => log.push(`z@${clock.now()}`), -5);
    clock.advance(20);
    expect(log).toEqual(['z@1000', 'a@1010', 'b@1010']);
    expect(clock.now()).toBe(1020);
    clock.advance(10);
    expect(log).toEqual(['z@1000', 'a@1010', 'b@1010', 'c@1030']);
  });

  it('fires the timers a callback sets when they fall due within the same advance', () => {
    const clock = new VirtualClock();
    const at: number[] = [];
    const tick = (): void => {
      at.push(clock.now());
      clock.setTimeout(tick, 40);
    };
    clock.setTimeout(tick, 40);
    clock.advance(100);
    expect(at).toEqual([40, 80]);
    expect(clock.dueTimes).toEqual([120]);
    clock.setTimeout(() => at.push(-clock.now()), 0);
    clock.advance(0);
    expect(at).toEqual([40, 80, -100]);
  });

  it('counts pending and fired timers, and lists the pending ones by due time', () => {
    const clock = new VirtualClock();
    const a = clock.setTimeout(() => {}, 300);
    clock.setTimeout(() => {}, 100);
    clock.setTimeout(() => {}, 200);
    expect(clock.pending).toBe(3);
    expect(clock.dueTimes).toEqual([100, 200, 300]);
    clock.clearTimeout(a);
    expect(clock.pending).toBe(2);
    expect(clock.dueTimes).toEqual([100, 200]);
    clock.advance(150);
    expect(clock.pending).toBe(1);
    expect(clock.fired).toBe(1);
    clock.advance(1000);
    expect(clock.pending).toBe(0);
    expect(clock.fired).toBe(2);
  });

  it('ignores clearing a fired, cleared or foreign timer', () => {
    const clock = new VirtualClock();
    const other = new VirtualClock();
    let fired = 0;
    const h = clock.setTimeout(() => fired++, 10);
    other.clearTimeout(h);
    other.clearTimeout(undefined);
    expect(clock.pending).toBe(1);
    clock.advance(10);
    clock.clearTimeout(h);
    clock.clearTimeout(h);
    expect(fired).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('stops a run of timers that never lets time move', () => {
    const clock = new VirtualClock();
    const spin = (): void => {
      clock.setTimeout(spin, 0);
    };
    clock.setTimeout(spin, 5);
    expect(() => clock.advance(10, 1000)).toThrow(/more than 1000 timer events/);
  });

  it('refuses to move time backwards', () => {
    const clock = new VirtualClock(50);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(Number.NaN)).toThrow(RangeError);
    expect(clock.now()).toBe(50);
  });

  it('advanceAsync lets the promise chains a timer starts run before the next timer', async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    clock.setTimeout(() => {
      void Promise.resolve()
        .then(() => undefined)
        .then(() => log.push(`chain@${clock.now()}`));
    }, 10);
    clock.setTimeout(() => log.push(`next@${clock.now()}`), 10);
    await clock.advanceAsync(10);
    expect(log).toEqual(['chain@10', 'next@10']);

    const sync = new VirtualClock();
    const order: string[] = [];
    sync.setTimeout(() => {
      void Promise.resolve().then(() => order.push('chain'));
    }, 10);
    sync.setTimeout(() => order.push('next'), 10);
    sync.advance(10);
    await Promise.resolve();
    expect(order).toEqual(['next', 'chain']);
  });

  it('runUntil returns the virtual time a condition took, or -1', () => {
    const clock = new VirtualClock();
    let done = false;
    clock.setTimeout(() => {
      done = true;
    }, 95);
    expect(clock.runUntil(() => done, 1000)).toBe(100);
    expect(clock.runUntil(() => false, 500, 100)).toBe(-1);
    expect(clock.now()).toBe(600);
  });
});
