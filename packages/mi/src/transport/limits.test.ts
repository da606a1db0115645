import { EventEmitter } from 'node:events';
import { noopLogger } from '@sipedge/core';
import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { StatisticsRegistry } from '../stats/registry.js';
import { ConnectionLimits, type LimitedSocket } from './limits.js';

let nextPort = 40000;

class FakeSocket extends EventEmitter implements LimitedSocket {
  destroyed = false;
  readonly remotePort = nextPort++;
  constructor(readonly remoteAddress: string) {
    super();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

function setup(): { clock: VirtualClock; stats: StatisticsRegistry; limits: ConnectionLimits } {
  const clock = new VirtualClock();
  const stats = new StatisticsRegistry();
  const limits = new ConnectionLimits(
    {
      maxConnectionsPerSource: 2,
      maxWsClientsPerSource: 1,
      requestTimeoutMs: 1000,
      keepAliveTimeoutMs: 500,
    },
    stats,
    noopLogger,
    clock,
  );
  return { clock, stats, limits };
}

describe('ConnectionLimits', () => {
  it('counts connections per source and frees a slot when one closes', () => {
    const { limits, stats } = setup();
    const a = [new FakeSocket('10.0.0.1'), new FakeSocket('::ffff:10.0.0.1')];
    for (const s of a) expect(limits.admit(s)).toBe(true);
    expect(limits.admit(new FakeSocket('10.0.0.1'))).toBe(false);
    expect(limits.admit(new FakeSocket('10.0.0.2'))).toBe(true);
    expect(stats.get('mi:connections_source_limited')).toBe(1);
    a[0]!.destroy();
    expect(limits.connectionsOf('10.0.0.1')).toBe(1);
    expect(limits.admit(new FakeSocket('10.0.0.1'))).toBe(true);
  });

  it('a request must be whole within the deadline from the accept; 408 when its headers are in', () => {
    const { clock, limits, stats } = setup();
    const silent = new FakeSocket('10.0.0.1');
    const slow = new FakeSocket('10.0.0.2');
    limits.admit(silent);
    limits.admit(slow);
    let answered = 0;
    clock.advance(900);
    limits.requestStarted(slow, () => answered++);
    clock.advance(99);
    expect(silent.destroyed || answered > 0).toBe(false);
    clock.advance(1);
    expect(silent.destroyed).toBe(true);
    expect(answered).toBe(1);
    expect(stats.get('mi:request_timeouts')).toBe(2);
  });

  it('the command runs off the clock; the next request is due keep-alive plus deadline after the answer', () => {
    const { clock, limits } = setup();
    const s = new FakeSocket('10.0.0.1');
    limits.admit(s);
    limits.requestStarted(s, () => s.destroy());
    limits.requestRead(s);
    clock.advance(10_000);
    expect(s.destroyed).toBe(false);
    limits.responded(s);
    clock.advance(1499);
    expect(s.destroyed).toBe(false);
    clock.advance(1);
    expect(s.destroyed).toBe(true);
  });

  it('a WebSocket has no deadline and counts against its source cap until it closes', () => {
    const { clock, limits, stats } = setup();
    const ws = new FakeSocket('10.0.0.1');
    limits.admit(ws);
    expect(limits.admitWs(ws)).toBe(true);
    const second = new FakeSocket('10.0.0.1');
    limits.admit(second);
    expect(limits.admitWs(second)).toBe(false);
    expect(stats.get('mi:ws_source_limited')).toBe(1);
    expect(stats.get('mi:ws_clients')).toBe(1);
    clock.advance(60_000);
    expect(ws.destroyed).toBe(false);
    ws.destroy();
    expect(stats.get('mi:ws_clients')).toBe(0);
  });
});
