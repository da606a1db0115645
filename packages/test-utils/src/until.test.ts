import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { notYet, until } from './until.js';

describe('until', () => {
  it('resolves with the first answer that is not false, undefined or null', async () => {
    const answers: unknown[] = [false, undefined, null, 0, 'late'];
    let i = 0;
    expect(await until(() => answers[i++], { what: 'an answer', intervalMs: 1 })).toBe(0);
    expect(i).toBe(4);
  });

  it('resolves at once when the condition already holds', async () => {
    let checks = 0;
    const v = await until(
      () => {
        checks++;
        return true;
      },
      { what: 'nothing' },
    );
    expect([v, checks]).toEqual([true, 1]);
  });

  it('awaits an async probe before the next check, and counts a rejection as "not yet"', async () => {
    let inFlight = 0;
    let most = 0;
    let n = 0;
    const v = await until(
      async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        if (++n < 3) throw new Error('not listening yet');
        return `after ${n}`;
      },
      { what: 'a server', intervalMs: 1 },
    );
    expect([v, most]).toEqual(['after 3', 1]);
  });

  it('fails naming what was awaited, with the number of checks and the last error', async () => {
    const err = await until(
      () => {
        throw new Error('ECONNREFUSED');
      },
      { what: 'the MI server', timeoutMs: 60, intervalMs: 10 },
    ).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/waiting for the MI server; last error: ECONNREFUSED$/);
    expect(err.message).toMatch(/\d+ checks/);
    expect((err.cause as Error).message).toBe('ECONNREFUSED');
  });

  it('keeps waiting on a NotYet answer and fails with its last reason', async () => {
    let left = 3;
    expect(
      await until(() => --left === 0 || notYet(`${left} left`), { what: 'x', intervalMs: 1 }),
    ).toBe(true);
    const err = await until(() => notYet('2 of 5 nodes synced'), {
      what: 'every node synced',
      timeoutMs: 30,
      intervalMs: 10,
    }).then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toMatch(/waiting for every node synced; last: 2 of 5 nodes synced$/);
  });

  it('polls a bounded number of times', async () => {
    let checks = 0;
    const err = await until(
      () => {
        checks++;
        return false;
      },
      { what: () => `a flag (checked ${checks} times)`, timeoutMs: 100, intervalMs: 10 },
    ).then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toMatch(/waiting for a flag \(checked \d+ times\)/);
    expect(checks).toBeLessThanOrEqual(11);
    expect(checks).toBeGreaterThan(1);
  });

  it('with wake, checks on each event and never on a timer', async () => {
    vi.useFakeTimers();
    const events = new EventEmitter();
    let count = 0;
    let checks = 0;
    const waiting = until(
      () => {
        checks++;
        return count >= 3;
      },
      {
        what: 'three events',
        wake: (recheck) => {
          events.on('change', recheck);
          return () => events.off('change', recheck);
        },
      },
    );
    try {
      vi.advanceTimersByTime(5000);
      expect(checks).toBe(1);
      for (let i = 0; i < 3; i++) {
        count++;
        events.emit('change');
      }
    } finally {
      vi.useRealTimers();
    }
    expect(await waiting).toBe(true);
    expect(checks).toBe(4);
    expect(events.listenerCount('change')).toBe(0);
  });

  it('with wake, times out naming the state reached, and unsubscribes', async () => {
    const events = new EventEmitter();
    const got = 0;
    const err = await until(() => got >= 5, {
      what: () => `5 packets (got ${got})`,
      timeoutMs: 30,
      wake: (recheck) => {
        events.on('packet', recheck);
        return () => events.off('packet', recheck);
      },
    }).then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toBe('timed out after 30 ms (1 checks) waiting for 5 packets (got 0)');
    expect(events.listenerCount('packet')).toBe(0);
  });
});
