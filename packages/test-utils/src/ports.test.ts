import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PEER_PORT_WINDOW, PeerPorts, peerPort } from './ports.js';

/** Linux's ephemeral port range, or undefined where there is none to read. */
function ephemeral(): [number, number] | undefined {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1')
      .trim()
      .split(/\s+/)
      .map(Number);
    return lo === undefined || hi === undefined ? undefined : [lo, hi];
  } catch {
    return undefined;
  }
}

/** Holds `port` over UDP and TCP on 127.0.0.1; resolves the release, or undefined if taken. */
async function hold(port: number): Promise<(() => Promise<void>) | undefined> {
  const u = dgram.createSocket('udp4');
  const udp = await new Promise<boolean>((resolve) => {
    u.once('error', () => resolve(false));
    u.bind(port, '127.0.0.1', () => resolve(true));
  });
  if (!udp) return undefined;
  const t = net.createServer();
  const tcp = await new Promise<boolean>((resolve) => {
    t.once('error', () => resolve(false));
    t.listen(port, '127.0.0.1', () => resolve(true));
  });
  const release = async (): Promise<void> => {
    await new Promise<void>((r) => u.close(() => r()));
    if (tcp) await new Promise<void>((r) => t.close(() => r()));
  };
  if (!tcp) {
    await release();
    return undefined;
  }
  return release;
}

const instances: PeerPorts[] = [];
afterEach(async () => {
  await Promise.all(instances.splice(0).map((p) => p.release()));
});
function ports(): PeerPorts {
  const p = new PeerPorts();
  instances.push(p);
  return p;
}

describe('peerPort', () => {
  it('takes its window below the ephemeral range, so the kernel never hands those ports out', () => {
    const eph = ephemeral();
    expect(eph, 'no /proc/sys/net/ipv4/ip_local_port_range: not Linux?').toBeDefined();
    expect(PEER_PORT_WINDOW.end - 1).toBeLessThan(eph![0]);
  });

  it('hands out distinct ports in the window, each bindable over UDP and TCP', async () => {
    const got: number[] = [];
    for (let i = 0; i < 60; i++) got.push(await peerPort());
    expect(new Set(got).size).toBe(got.length);
    for (const p of got) {
      expect(p).toBeGreaterThanOrEqual(PEER_PORT_WINDOW.first);
      expect(p).toBeLessThan(PEER_PORT_WINDOW.end);
      const release = await hold(p);
      expect(release, `port ${p}`).toBeDefined();
      await release!();
    }
  });

  it('keeps calls made at once apart', async () => {
    const got = await Promise.all(Array.from({ length: 20 }, () => peerPort()));
    expect(new Set(got).size).toBe(20);
  });

  it('reserves a span of consecutive ports, all free, and never hands one of them out again', async () => {
    const p = ports();
    const first = await p.take(3);
    const after = [await p.take(), await p.take()];
    for (let q = first; q < first + 3; q++) {
      const release = await hold(q);
      expect(release, `port ${q}`).toBeDefined();
      await release!();
      expect(after).not.toContain(q);
    }
    await expect(p.take(PEER_PORT_WINDOW.block)).rejects.toThrow(RangeError);
  });

  it('passes over a port something else holds', async () => {
    const p = ports();
    const first = await p.take();
    const held: (() => Promise<void>)[] = [];
    const heldPorts: number[] = [];
    for (let q = first + 1; q < first + 6; q++) {
      const release = await hold(q);
      if (release === undefined) continue;
      held.push(release);
      heldPorts.push(q);
    }
    try {
      for (let i = 0; i < 3; i++) expect(heldPorts).not.toContain(await p.take());
    } finally {
      for (const release of held) await release();
    }
  });

  it('two processes (two leases) never share a block: the lease is a listening socket', async () => {
    const a = ports();
    const b = ports();
    const fromA = [await a.take(), await a.take()];
    const fromB = [await b.take(), await b.take()];
    expect(a.blocks).toHaveLength(1);
    expect(b.blocks).toHaveLength(1);
    expect(a.blocks[0]).not.toBe(b.blocks[0]);
    const inBlock = (port: number, start: number): boolean =>
      port > start && port < start + PEER_PORT_WINDOW.block;
    for (const port of fromA) expect(inBlock(port, a.blocks[0]!)).toBe(true);
    for (const port of fromB) expect(inBlock(port, b.blocks[0]!)).toBe(true);
    // the lease port itself is held while the lease lasts, and free once it ends
    expect(await hold(a.blocks[0]!)).toBeUndefined();
    const start = a.blocks[0]!;
    await a.release();
    const release = await hold(start);
    expect(release).toBeDefined();
    await release!();
  });

  it('leases another block when one is used up, keeping the first', async () => {
    const p = ports();
    const seen = new Set<number>();
    for (let i = 0; i < PEER_PORT_WINDOW.block + 5; i++) seen.add(await p.take());
    expect(seen.size).toBe(PEER_PORT_WINDOW.block + 5);
    expect(p.blocks.length).toBeGreaterThanOrEqual(2);
    expect(new Set(p.blocks).size).toBe(p.blocks.length);
  });
});
