import net from 'node:net';
import { until } from '@sipedge/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import type { BinAddress } from '../src/nodes/node-info.js';
import { closeEndpoints, endpoint, ping, rawClient } from './endpoint.js';

afterEach(closeEndpoints);

describe('proto_bin over TCP', () => {
  it('delivers back-to-back packets in order on one outbound connection, with the source IP', async () => {
    const a = await endpoint();
    const b = await endpoint();
    for (let i = 1; i <= 500; i++) expect(a.t.send(b.addr, ping(i))).toBe(true);
    await b.wait(500);
    expect(b.got.map((g) => g.packet.readInt32LE(b.got[0]!.packet.length - 8))).toEqual(
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    expect(b.got[0]?.source.host).toBe('127.0.0.1');
    expect(a.t.counters.get('connects')).toBe(1);
  });

  it('closes a connection that sends garbage, and keeps serving others', async () => {
    const b = await endpoint();
    expect(await rawClient(b.addr.port, Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBe('closed');
    const long = Buffer.from(ping(1));
    long.writeUInt32LE(70_000, 4);
    expect(await rawClient(b.addr.port, long)).toBe('closed');
    const short = Buffer.from(ping(1));
    short.writeUInt32LE(12, 4);
    expect(await rawClient(b.addr.port, short)).toBe('closed');
    expect(b.t.counters.get('framing_bad_marker')).toBe(1);
    expect(b.t.counters.get('framing_too_long')).toBe(1);
    expect(b.t.counters.get('framing_too_short')).toBe(1);
    expect(b.got).toHaveLength(0);
    const a = await endpoint();
    a.t.send(b.addr, ping(7));
    await b.wait(1);
  });

  it('reports a peer that refuses or goes away, and reconnects on the next send', async () => {
    const a = await endpoint();
    const b = await endpoint();
    const dead: BinAddress = { proto: 'bin', host: '127.0.0.1', port: b.addr.port };
    await b.t.close();
    a.t.send(dead, ping(1));
    await until(() => a.lost.length > 0, { what: 'a peer-lost report', wake: a.wake });
    expect(a.lost[0]).toEqual(dead);
    const c = await endpoint();
    a.t.send(c.addr, ping(2));
    await c.wait(1);
  });

  it('bounds the queue of a connection that is still connecting', async () => {
    const a = await endpoint('bin', { maxQueueBytes: 1000 });
    const b = await endpoint();
    const results = Array.from({ length: 40 }, () => a.t.send(b.addr, ping(1)));
    expect(results.filter((r) => !r).length).toBeGreaterThan(0);
    expect(a.t.counters.get('queue_overflow')).toBeGreaterThan(0);
  });

  it('closes a connection that leaves a packet incomplete for longer than maxPacketTime', async () => {
    const b = await endpoint('bin', { maxPacketTime: 100 });
    expect(await rawClient(b.addr.port, ping(1).subarray(0, 20))).toBe('closed');
    expect(b.t.counters.get('framing_timeout')).toBe(1);
  });

  it('keeps a long stream whose reads all end inside a packet (maxPacketTime is per packet)', async () => {
    // regression: the timer ran from the first partial read and was never cleared while every
    // read ended mid-packet, so a sync stream longer than 4 s was cut by its receiver
    // admitted at its first packet, as the clusterer does: a pending connection would be
    // closed after firstPacketTimeout, which a slow run of this loop can pass on a busy machine
    const b = await endpoint('bin', { maxPacketTime: 150 }, { admit: () => 1 });
    const s = net.connect({ host: '127.0.0.1', port: b.addr.port });
    await new Promise<void>((r) => s.once('connect', () => r()));
    const p = ping(1);
    const half = 20;
    s.write(p.subarray(0, half));
    const steps = 40;
    for (let i = 0; i < steps; i++) {
      s.write(Buffer.concat([p.subarray(half), p.subarray(0, half)]));
      await b.wait(i + 1);
      // a slow producer: the whole stream lasts far longer than maxPacketTime
      await new Promise((r) => setTimeout(r, 10));
    }
    s.write(p.subarray(half));
    await b.wait(steps + 1);
    expect(b.t.counters.get('framing_timeout')).toBeUndefined();
    s.destroy();
  });

  it('acceptFrom closes connections from unknown hosts before reading', async () => {
    const b = await endpoint('bin', { acceptFrom: (host) => host === '192.0.2.1' });
    expect(await rawClient(b.addr.port, ping(1))).toBe('closed');
    expect(b.t.counters.get('rejected_source')).toBe(1);
    expect(b.got).toHaveLength(0);
  });

  it('bins: the same framing inside TLS with certificate checks', async () => {
    const a = await endpoint('bins');
    const b = await endpoint('bins');
    for (let i = 1; i <= 20; i++) a.t.send(b.addr, ping(i));
    await b.wait(20);
    expect(b.got[19]?.packet.equals(ping(20))).toBe(true);
  });
});
