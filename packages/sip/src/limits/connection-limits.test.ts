import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import {
  type ConnectionCloseReason,
  ConnectionLimits,
  type ConnectionLimitsOptions,
  type TrackedConnection,
} from './connection-limits.js';

function setup(options: ConnectionLimitsOptions = {}) {
  const clock = new VirtualClock();
  const limits = new ConnectionLimits({ clock, ...options });
  const closed: Array<[string, ConnectionCloseReason]> = [];
  const open = (name: string, source: string, inbound = true, handshaking = false) => {
    const refusal = limits.admit(source, inbound);
    if (refusal !== undefined) return refusal;
    return limits.add(source, inbound, (r) => closed.push([name, r]), handshaking);
  };
  return { clock, limits, closed, open };
}

describe('ConnectionLimits', () => {
  it('closes a connection idle for the lifetime; every message either way restarts it', () => {
    const { clock, limits, closed, open } = setup({ idleMs: 120_000 });
    const c = open('a', '192.0.2.1') as TrackedConnection;
    clock.advance(100_000);
    limits.active(c);
    clock.advance(100_000);
    limits.active(c, false); // a message we sent
    clock.advance(119_999);
    expect(closed).toEqual([]);
    clock.advance(1);
    expect(closed).toEqual([['a', 'idle']]);
    expect(limits.size).toBe(0);
  });

  it('the message deadline runs from the first byte and does not restart per chunk', () => {
    const { clock, limits, closed, open } = setup({ messageMs: 10_000, idleMs: 0 });
    const c = open('loris', '192.0.2.1') as TrackedConnection;
    // one byte every 4 s: each chunk leaves the message partial
    for (let t = 0; t < 8_000; t += 4_000) {
      limits.receiving(c, true, false);
      clock.advance(4_000);
    }
    limits.receiving(c, true, false);
    expect(closed).toEqual([]);
    clock.advance(2_000);
    expect(closed).toEqual([['loris', 'message-timeout']]);
  });

  it('a completed message stops the deadline; a new partial message starts its own', () => {
    const { clock, limits, closed, open } = setup({ messageMs: 10_000, idleMs: 0 });
    const c = open('ok', '192.0.2.1') as TrackedConnection;
    limits.receiving(c, true, false);
    clock.advance(9_000);
    limits.receiving(c, false, true); // the message completed
    clock.advance(20_000);
    limits.receiving(c, true, false);
    clock.advance(9_000);
    limits.receiving(c, true, true); // one completed, the next began in the same chunk
    clock.advance(9_000);
    expect(closed).toEqual([]);
    clock.advance(1_000);
    expect(closed).toEqual([['ok', 'message-timeout']]);
  });

  it('closes a connection whose handshake does not complete in time', () => {
    const { clock, limits, closed, open } = setup({ handshakeMs: 5_000, idleMs: 60_000 });
    const slow = open('slow', '192.0.2.1', true, true) as TrackedConnection;
    const fast = open('fast', '192.0.2.2', true, true) as TrackedConnection;
    clock.advance(1_000);
    limits.established(fast);
    clock.advance(4_000);
    expect(closed).toEqual([['slow', 'handshake-timeout']]);
    expect(limits.countFrom(slow.source)).toBe(0);
    // the upgraded one now lives by the idle lifetime
    clock.advance(55_999);
    expect(closed).toHaveLength(1);
    clock.advance(1);
    expect(closed).toEqual([
      ['slow', 'handshake-timeout'],
      ['fast', 'idle'],
    ]);
  });

  it('probes a connection whose lifetime is due; an answer keeps it, silence closes it', () => {
    const { clock, limits, closed, open } = setup({ idleMs: 60_000, handshakeMs: 1000 });
    const c = open('ws', '192.0.2.1', true, true) as TrackedConnection;
    let pings = 0;
    limits.established(c, () => {
      pings++;
      // the browser answers the ping at once
      if (pings === 1) limits.active(c);
    });
    clock.advance(60_000);
    expect(pings).toBe(1);
    clock.advance(60_000);
    expect(pings).toBe(2);
    expect(closed).toEqual([]);
    clock.advance(9_999);
    expect(closed).toEqual([]);
    clock.advance(1);
    expect(closed).toEqual([['ws', 'idle']]);
  });

  it('refuses a source at its cap; other sources and outbound connections still get in', () => {
    const { limits, open } = setup({ maxPerSource: 3 });
    for (let i = 0; i < 3; i++) expect(open(`a${i}`, '192.0.2.1')).not.toBeTypeOf('string');
    expect(open('a3', '192.0.2.1')).toBe('per-source');
    expect(open('b', '192.0.2.2')).not.toBeTypeOf('string');
    expect(open('out', '192.0.2.1', false)).not.toBeTypeOf('string');
    expect(limits.countFrom('192.0.2.1')).toBe(3);
  });

  it('at the global cap a newcomer evicts from the source holding the most, never the lone client', () => {
    const { clock, limits, closed, open } = setup({ maxConnections: 8, maxPerSource: 4 });
    const client = open('client', '198.51.100.7') as TrackedConnection;
    clock.advance(10);
    limits.active(client);
    clock.advance(10);
    // the client's connection is now the longest-idle one that spoke… the attackers never spoke
    for (let s = 1; s <= 2; s++) {
      for (let i = 0; i < 4; i++) {
        clock.advance(1);
        open(`atk${s}.${i}`, `192.0.2.${s}`);
      }
    }
    expect(limits.size).toBe(8);
    expect(closed.map(([n]) => n)).toEqual(['atk1.0']); // made room for atk2.3
    // a fresh client from another address gets in, by evicting an attacker again
    const fresh = open('fresh', '203.0.113.9');
    expect(fresh).not.toBeTypeOf('string');
    expect(closed.map(([n]) => n)).toEqual(['atk1.0', 'atk2.0']);
    expect(closed.every(([, r]) => r === 'evicted')).toBe(true);
    expect(limits.countFrom('198.51.100.7')).toBe(1);
    expect(limits.size).toBe(8);
  });

  it('with only outbound connections at the cap, a newcomer is refused', () => {
    const { open } = setup({ maxConnections: 2 });
    open('o1', '192.0.2.1', false);
    open('o2', '192.0.2.2', false);
    expect(open('in', '192.0.2.3')).toBe('full');
  });

  it('a removed connection frees its slot and its timers', () => {
    const { clock, limits, closed, open } = setup({ maxPerSource: 1 });
    const c = open('a', '192.0.2.1') as TrackedConnection;
    limits.receiving(c, true, false);
    limits.remove(c);
    limits.remove(c);
    expect(limits.size).toBe(0);
    expect(clock.pending).toBe(0);
    expect(open('b', '192.0.2.1')).not.toBeTypeOf('string');
    clock.advance(1_000_000);
    expect(closed).toEqual([['b', 'idle']]);
  });
});
