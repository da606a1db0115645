import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTlsMaterial } from '@sipedge/core';
import { makeTestCa, makeTestCertificate, until } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { MiClient } from '../src/client/client.js';
import { defineCommand } from '../src/command.js';
import { live, request } from './helpers.js';

const WHICH = '{"jsonrpc":"2.0","method":"which","id":1}';

/** A TCP connection to the MI port from `from` (any 127/8 address is this host on Linux). */
async function connectFrom(port: number, from: string): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1', localAddress: from });
  s.on('error', () => {});
  await once(s, 'connect');
  return s;
}

function closed(s: net.Socket): Promise<void> {
  return s.destroyed ? Promise.resolve() : once(s, 'close').then(() => {});
}

function openWs(url: string, from: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress: from });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('MI limits that hold under abuse (real loopback sockets)', () => {
  it('a source holding its connection cap is refused; another source is answered', async () => {
    await using mi = await live({ maxConnectionsPerSource: 3 });
    const { port } = mi.server.address();
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await connectFrom(port, '127.0.0.2'));
    await until(() => mi.server.connections >= 3, { what: 'three connections accepted' });
    const fourth = await connectFrom(port, '127.0.0.2');
    await closed(fourth);
    expect(mi.stats.get('mi:connections_source_limited')).toBe(1);
    const r = await request(mi.server.url, { localAddress: '127.0.0.1', body: WHICH });
    expect(r.status).toBe(200);
    for (const s of held) s.destroy();
    await until(() => mi.server.connections === 0, { what: 'the connections closed' });
    expect((await request(mi.server.url, { localAddress: '127.0.0.2', body: WHICH })).status).toBe(
      200,
    );
  });

  it('closes a connection that sends nothing within the request deadline', async () => {
    await using mi = await live({ requestTimeoutMs: 200 });
    const s = await connectFrom(mi.server.address().port, '127.0.0.1');
    await closed(s);
    expect(mi.stats.get('mi:request_timeouts')).toBe(1);
  });

  it('the deadline is for the whole request: a body dripped a byte at a time gets 408 and is closed', async () => {
    await using mi = await live({ requestTimeoutMs: 300 });
    const s = await connectFrom(mi.server.address().port, '127.0.0.1');
    s.write('POST /mi HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{');
    // each byte arrives well inside the deadline; the whole request never does
    const drip = setInterval(() => s.write(' '), 50);
    const reply: Buffer[] = [];
    s.on('data', (d: Buffer) => reply.push(d));
    await closed(s);
    clearInterval(drip);
    expect(Buffer.concat(reply).toString()).toMatch(/^HTTP\/1\.1 408 /);
    expect(mi.stats.get('mi:request_timeouts')).toBe(1);
  });

  it('a header dripped a byte at a time is closed by the same deadline', async () => {
    await using mi = await live({ requestTimeoutMs: 300 });
    const s = await connectFrom(mi.server.address().port, '127.0.0.1');
    const drip = setInterval(() => s.write('X'), 50);
    s.write('POST /mi HTTP/1.1\r\nX-Long: ');
    await closed(s);
    clearInterval(drip);
    expect(mi.stats.get('mi:request_timeouts')! + mi.stats.get('mi:http_rejected')!).toBe(1);
  });

  it('a command that runs longer than the deadline is still answered', async () => {
    await using mi = await live({ requestTimeoutMs: 100 });
    mi.registry.register(
      defineCommand({
        name: 'slow',
        description: 'answers after 400 ms',
        params: z.object({}),
        handler: () => new Promise((resolve) => setTimeout(() => resolve('done'), 400)),
      }),
    );
    const r = await request(mi.server.url, {
      localAddress: '127.0.0.1',
      body: '{"jsonrpc":"2.0","method":"slow","id":1}',
    });
    expect(JSON.parse(r.body)).toMatchObject({ result: 'done' });
    expect(mi.stats.get('mi:request_timeouts')).toBe(0);
  });

  it('over HTTPS the deadline follows the TLS connection: a slow command on it is answered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-mi-limits-'));
    try {
      const ca = makeTestCa(dir, 'ca');
      makeTestCertificate(ca, 'mi');
      const material = loadTlsMaterial({
        certificate: join(dir, 'mi.pem'),
        privateKey: join(dir, 'mi.key'),
        caList: ca.certificate,
      });
      await using mi = await live({ tls: material.server, requestTimeoutMs: 100 });
      mi.registry.register(
        defineCommand({
          name: 'slow',
          description: 'answers after 300 ms',
          params: z.object({}),
          handler: () => new Promise((resolve) => setTimeout(() => resolve('done'), 300)),
        }),
      );
      const client = new MiClient({ url: mi.server.url, tls: { ca: material.client.ca } });
      try {
        expect(await client.call('slow')).toBe('done');
        expect(await client.call('slow')).toBe('done');
      } finally {
        client.close();
      }
      expect(mi.stats.get('mi:request_timeouts')).toBe(0);
      // a TCP connection that never starts its handshake is closed by the same deadline
      const silent = await connectFrom(mi.server.address().port, '127.0.0.1');
      await closed(silent);
      expect(mi.stats.get('mi:request_timeouts')).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an answered keep-alive connection left idle is closed', async () => {
    await using mi = await live({ keepAliveTimeoutMs: 100, requestTimeoutMs: 200 });
    const s = await connectFrom(mi.server.address().port, '127.0.0.1');
    s.write(`POST /mi HTTP/1.1\r\nHost: x\r\nContent-Length: ${WHICH.length}\r\n\r\n${WHICH}`);
    const [first] = (await once(s, 'data')) as [Buffer];
    expect(first.toString()).toMatch(/^HTTP\/1\.1 200 /);
    await closed(s);
    await until(() => mi.server.connections === 0, { what: 'the server side closed' });
  });

  it('a source holding its WebSocket cap is refused; another source connects', async () => {
    await using mi = await live({ maxWsClientsPerSource: 2 });
    const a = [
      await openWs(mi.server.wsUrl, '127.0.0.2'),
      await openWs(mi.server.wsUrl, '127.0.0.2'),
    ];
    await expect(openWs(mi.server.wsUrl, '127.0.0.2')).rejects.toThrow(/503/);
    expect(mi.stats.get('mi:ws_source_limited')).toBe(1);
    const b = await openWs(mi.server.wsUrl, '127.0.0.1');
    expect(mi.stats.get('mi:ws_clients')).toBe(3);
    for (const ws of [...a, b]) ws.terminate();
    await until(() => mi.server.wsClients === 0, { what: 'the clients gone' });
    const again = await openWs(mi.server.wsUrl, '127.0.0.2');
    again.terminate();
  });
});
