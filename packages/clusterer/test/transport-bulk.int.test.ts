/**
 * The bulk queue of TcpBinTransport on real loopback sockets: ordinary packets overtake queued
 * sync-stream packets, bulk packets keep their order, the queue is bounded and reports room.
 */
import net from 'node:net';
import { until } from '@sipedge/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { BinFramer } from '../src/bin/framing.js';
import { decodePacket, encodePacket } from '../src/bin/packet.js';
import type { BinAddress } from '../src/nodes/node-info.js';
import { TcpBinTransport } from '../src/transport/tcp.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const bulk = (i: number): Buffer =>
  encodePacket({
    kind: 'module',
    cluster: 1,
    src: 1,
    dst: 2,
    capability: 'bulk',
    version: 1,
    type: i,
    body: Buffer.alloc(32_000, i & 255),
  });
const ping = encodePacket({ kind: 'ping', cluster: 1, src: 1, reqNodeList: false });

/** A peer that reads nothing until `resume()`, then frames what it got. */
async function stalledPeer(): Promise<{
  addr: BinAddress;
  resume(): void;
  pause(): void;
  packets: Buffer[];
  waitFor(pred: () => boolean): Promise<void>;
}> {
  const packets: Buffer[] = [];
  const framer = new BinFramer();
  let sock: net.Socket | undefined;
  let paused = true;
  const listeners = new Set<() => void>();
  const server = net.createServer((s) => {
    sock = s;
    if (paused) s.pause();
    s.on('data', (d: Buffer) => {
      packets.push(...framer.push(d).packets);
      for (const l of listeners) l();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(
    () =>
      new Promise<void>((r) => {
        sock?.destroy();
        server.close(() => r());
      }),
  );
  const port = (server.address() as net.AddressInfo).port;
  return {
    addr: { proto: 'bin', host: '127.0.0.1', port },
    resume: () => {
      paused = false;
      sock?.resume();
    },
    pause: () => {
      paused = true;
      sock?.pause();
    },
    packets,
    waitFor: async (pred) => {
      await until(pred, {
        what: () => `the sink's condition (${packets.length} packets so far)`,
        timeoutMs: 20_000,
        wake: (recheck) => {
          listeners.add(recheck);
          return () => listeners.delete(recheck);
        },
      });
    },
  };
}

async function sender(): Promise<{ t: TcpBinTransport; drains: BinAddress[] }> {
  const t = new TcpBinTransport({
    listen: { proto: 'bin', host: '127.0.0.1', port: 0 },
    bulkQueueBytes: 4 << 20,
  });
  const drains: BinAddress[] = [];
  t.setHandler({ onPacket: () => {}, onDrain: (to) => drains.push(to) });
  await t.listen();
  closers.push(() => t.close());
  return { t, drains };
}

describe('TcpBinTransport bulk queue', () => {
  it('a ping sent after 12 MB of queued sync packets overtakes most of them', async () => {
    const peer = await stalledPeer();
    const { t, drains } = await sender();
    // open the connection first
    expect(t.send(peer.addr, ping)).toBe(true);
    peer.resume();
    await peer.waitFor(() => peer.packets.length === 1);
    // the peer stops reading: the kernel buffers fill, the rest waits in the bulk queue
    const n = 400;
    peer.pause();
    let queued = 0;
    for (let i = 0; i < n; i++) if (t.sendBulk(peer.addr, bulk(i))) queued++;
    expect(queued).toBe(n);
    expect(t.bulkRoom(peer.addr)).toBe(false);
    expect(t.send(peer.addr, ping)).toBe(true);
    peer.resume();
    await peer.waitFor(() => peer.packets.length === n + 2);
    const kinds = peer.packets.slice(1).map((p) => decodePacket(p));
    const at = kinds.findIndex((p) => p.kind === 'ping');
    // the ping waited only behind what the kernel and one bulk write already held
    expect(at).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThan(n / 2);
    const order = kinds
      .filter((p) => p.kind === 'module')
      .map((p) => (p.kind === 'module' ? p.type : -1));
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
    // the queue drained: room again, and the handler was told
    expect(t.bulkRoom(peer.addr)).toBe(true);
    expect(drains.length).toBeGreaterThan(0);
    expect(t.pending(peer.addr)).toBe(0);
  }, 30_000);

  it('flush() before close() delivers every packet already sent (graceful stop)', async () => {
    const peer = await stalledPeer();
    const { t } = await sender();
    expect(t.send(peer.addr, ping)).toBe(true);
    peer.resume();
    await peer.waitFor(() => peer.packets.length === 1);
    peer.pause();
    // more than the kernel buffers hold while the peer does not read
    let n = 0;
    while (n < 300 && t.send(peer.addr, bulk(n))) n++;
    expect(n).toBeGreaterThan(50);
    expect(t.pending(peer.addr)).toBeGreaterThan(0); // still in this process, not yet sent
    setTimeout(() => peer.resume(), 100);
    expect(await t.flush(10_000)).toBe(true);
    await t.close();
    await peer.waitFor(() => peer.packets.length === n + 1);
    const types = peer.packets
      .slice(1)
      .map((p) => decodePacket(p))
      .map((p) => (p.kind === 'module' ? p.type : -1));
    expect(types).toEqual(Array.from({ length: n }, (_, i) => i));
  }, 30_000);

  it('refuses bulk packets beyond its bound instead of growing without limit', async () => {
    const peer = await stalledPeer();
    const { t } = await sender();
    let accepted = 0;
    for (let i = 0; i < 1000; i++) if (t.sendBulk(peer.addr, bulk(i))) accepted++;
    // 4 × 4 MiB of 32 KB packets, the connection not even open yet
    expect(accepted).toBeLessThan(600);
    expect(accepted).toBeGreaterThan(400);
    expect(t.counters.get('bulk_overflow')).toBe(1000 - accepted);
    expect(t.pending(peer.addr)).toBeLessThanOrEqual(16 << 20);
  });
});
