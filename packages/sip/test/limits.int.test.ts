/**
 * Stream limits on real loopback sockets: idle lifetime, the whole-message deadline against a
 * drip-feed, the per-source cap, eviction at the global cap, the WebSocket handshake deadline.
 * Sources are told apart by binding clients to different 127.x addresses.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SipMessage, SipTransports, type TransportsOptions } from '../src/index.js';

const OPTIONS = (branch: string) =>
  `OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h.example.com;branch=z9hG4bK${branch}\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: ${branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;

const open: SipTransports[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const t of open.splice(0)) await t.close();
});

async function listen(
  o: Partial<TransportsOptions>,
  proto: 'tcp' | 'ws' = 'tcp',
): Promise<{ t: SipTransports; port: number; got: SipMessage[] }> {
  const got: SipMessage[] = [];
  const t = new SipTransports({ onMessage: (m) => got.push(m), ...o });
  open.push(t);
  const { port } = proto === 'tcp' ? await t.listenTcp('127.0.0.1') : await t.listenWs('127.0.0.1');
  return { t, port, got };
}

/** A client from `from` (a 127.x address); resolves once connected. */
async function client(port: number, from = '127.0.0.1'): Promise<Socket> {
  const s = connect({ port, host: '127.0.0.1', localAddress: from });
  sockets.push(s);
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  return s;
}

function closed(s: Socket): Promise<void> {
  return s.destroyed || s.readyState === 'closed'
    ? Promise.resolve()
    : new Promise((r) => s.once('close', () => r()));
}

const until = async (what: string, cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

describe('SIP stream limits on loopback', () => {
  it('closes a connection that stays idle for the lifetime; one that talks stays', async () => {
    const { t, port, got } = await listen({ connectionLifetimeMs: 300 });
    const idle = await client(port);
    const talker = await client(port);
    let n = 0;
    const talk = setInterval(() => talker.write(OPTIONS(`t${n++}`)), 100);
    try {
      await closed(idle);
      expect(t.counters.closedIdle).toBe(1);
      expect(talker.destroyed).toBe(false);
      expect(got.length).toBeGreaterThan(0);
    } finally {
      clearInterval(talk);
    }
  });

  it('closes a drip-feed (one byte per chunk) at the message deadline, not per chunk', async () => {
    const { t, port } = await listen({ partialTimeoutMs: 400, connectionLifetimeMs: 0 });
    const loris = await client(port);
    const bytes = Buffer.from(OPTIONS('loris'));
    let i = 0;
    const started = Date.now();
    // a byte every 100 ms: each chunk comes well inside a per-chunk timer of 400 ms
    const drip = setInterval(() => {
      if (i < bytes.length) loris.write(bytes.subarray(i, ++i));
    }, 100);
    try {
      await closed(loris);
    } finally {
      clearInterval(drip);
    }
    expect(Date.now() - started).toBeLessThan(2000);
    expect(i).toBeLessThan(bytes.length);
    expect(t.counters.closedMessageTimeout).toBe(1);
    expect(t.counters.closedForLimits).toBe(1);
  });

  it('caps the connections of one source; another source still gets in', async () => {
    const { t, port, got } = await listen({ maxConnectionsPerSource: 3 });
    for (let i = 0; i < 3; i++) await client(port, '127.0.0.2');
    const fourth = await client(port, '127.0.0.2');
    await closed(fourth);
    expect(t.counters.refusedPerSource).toBe(1);
    const other = await client(port, '127.0.0.3');
    other.write(OPTIONS('other'));
    await until('the other source’s OPTIONS', () => got.length === 1);
    expect(t.connectionCount).toBe(4);
  });

  it('at the global cap, idle connections of the busiest sources make room for a fresh client', async () => {
    const { t, port, got } = await listen({ maxConnections: 12, maxConnectionsPerSource: 4 });
    const attackers: Socket[] = [];
    for (let s = 2; s <= 5; s++) {
      for (let i = 0; i < 4; i++) attackers.push(await client(port, `127.0.0.${s}`));
    }
    await until('the server to hold 12 connections', () => t.connectionCount === 12);
    const fresh = await client(port, '127.0.0.9');
    fresh.write(OPTIONS('fresh'));
    await until('the fresh client’s OPTIONS', () => got.length === 1);
    expect(fresh.destroyed).toBe(false);
    expect(t.counters.evictedConnections).toBe(4 * 4 - 12 + 1);
    expect(t.counters.refusedConnections).toBe(0);
    expect(t.connectionCount).toBe(12);
  });

  it('pings an idle WebSocket: one that answers stays, one that does not is closed', async () => {
    const { t, port } = await listen({ connectionLifetimeMs: 300 }, 'ws');
    const open = (autoPong: boolean) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}`, 'sip', { autoPong });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    const answers = await open(true);
    const mute = await open(false);
    try {
      await new Promise<void>((r) => mute.once('close', () => r()));
      expect(t.counters.closedIdle).toBe(1);
      expect(answers.readyState).toBe(WebSocket.OPEN);
    } finally {
      answers.terminate();
      mute.terminate();
    }
  });

  it('closes a WebSocket connection that never upgrades', async () => {
    const { t, port } = await listen({ wsHandshakeTimeoutMs: 300 }, 'ws');
    const silent = await client(port);
    const partial = await client(port);
    partial.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    await Promise.all([closed(silent), closed(partial)]);
    expect(t.counters.closedHandshakeTimeout).toBe(2);
    expect(t.connectionCount).toBe(0);
  });
});
