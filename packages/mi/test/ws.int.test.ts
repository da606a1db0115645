import dgram from 'node:dgram';
import net from 'node:net';
import { until } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { MiClient } from '../src/client/client.js';
import type { EventParams } from '../src/events/bus.js';
import { MiServer } from '../src/transport/server.js';
import { live } from './helpers.js';

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<unknown> {
  return new Promise((resolve) => ws.once('message', (d) => resolve(JSON.parse(String(d)))));
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve(-1);
    else ws.once('close', (code) => resolve(code));
  });
}

describe('MI over WebSocket (real loopback socket)', () => {
  it('carries JSON-RPC requests, batches and parse errors', async () => {
    await using mi = await live();
    const ws = await open(mi.server.wsUrl);
    ws.send('{"jsonrpc":"2.0","method":"sr_get_status","params":["core"],"id":"a"}');
    expect(await nextMessage(ws)).toEqual({
      jsonrpc: '2.0',
      result: { Readiness: true, Status: 1, Details: 'running' },
      id: 'a',
    });
    ws.send('[{"jsonrpc":"2.0","method":"which","id":1},{"jsonrpc":"2.0","method":"nope","id":2}]');
    const batch = (await nextMessage(ws)) as { id: number }[];
    expect(batch.map((r) => r.id)).toEqual([1, 2]);
    ws.send('{oops');
    expect(await nextMessage(ws)).toMatchObject({ error: { code: -32700 }, id: null });
    ws.close();
    await closed(ws);
  });

  it('an event subscription receives events raised after it subscribed, as JSON-RPC notifications', async () => {
    await using mi = await live();
    mi.events.raise('E_TEST', { before: true });
    using client = new MiClient({ url: mi.server.wsUrl });
    const got: EventParams[] = [];
    const sub = await client.subscribe('E_TEST', (p) => got.push(p));
    expect(mi.events.subscribers('E_TEST')).toEqual([{ socket: 'ws:1', expire: 'never' }]);
    mi.events.raise('E_TEST', { cluster_id: 1, node_id: 2, new_state: 1 });
    mi.events.raise('E_TEST', { n: 2 });
    await until(() => got.length >= 2, { what: 'both events' });
    expect(got).toEqual([{ cluster_id: 1, node_id: 2, new_state: 1 }, { n: 2 }]);
    await sub.unsubscribe();
    expect(mi.events.subscribers('E_TEST')).toEqual([]);
  });

  it('the raw notification has the OpenSIPS payload shape', async () => {
    await using mi = await live();
    const ws = await open(mi.server.wsUrl);
    ws.send('{"jsonrpc":"2.0","method":"event_subscribe","params":["E_TEST"],"id":1}');
    expect(await nextMessage(ws)).toEqual({ jsonrpc: '2.0', result: 'OK', id: 1 });
    const note = nextMessage(ws);
    mi.events.raise('E_TEST', { name: 'vip', cluster: 1, state: 'active', reason: 'mi' });
    expect(await note).toEqual({
      jsonrpc: '2.0',
      method: 'E_TEST',
      params: { name: 'vip', cluster: 1, state: 'active', reason: 'mi' },
    });
    ws.close();
    await closed(ws);
    await until(() => mi.events.subscribers('E_TEST')?.length === 0, {
      what: 'no subscriber left',
    });
  });

  it('drops a subscriber that does not read instead of buffering without bound', async () => {
    await using mi = await live({ wsMaxBufferedBytes: 64 * 1024 });
    const ws = await open(mi.server.wsUrl);
    ws.send('{"jsonrpc":"2.0","method":"event_subscribe","params":["E_TEST"],"id":1}');
    await nextMessage(ws);
    // stop reading: the kernel buffers fill, then the server-side queue grows
    (ws as unknown as { _socket: net.Socket })._socket.pause();
    const blob = 'x'.repeat(16 * 1024);
    let delivered = 0;
    for (let i = 0; i < 20_000 && mi.stats.get('mi:ws_slow_dropped') === 0; i++) {
      delivered += mi.events.raise('E_TEST', { blob });
      if (i % 16 === 0) await new Promise<void>((r) => setImmediate(r));
    }
    expect(mi.stats.get('mi:ws_slow_dropped')).toBe(1);
    expect(delivered).toBeGreaterThan(0);
    expect(mi.events.subscribers('E_TEST')).toEqual([]);
    expect(mi.stats.get('events:dropped')).toBeGreaterThanOrEqual(1);
    ws.terminate();
  });

  it('keep-alive: answers pings keep a client; a silent peer is closed after a missed pong', async () => {
    await using mi = await live({ pingIntervalMs: 200 });
    const good = await open(mi.server.wsUrl);
    let pings = 0;
    good.on('ping', () => pings++);
    // a raw TCP peer that completes the handshake and then never answers anything
    const addr = mi.server.address();
    const silent = net.connect(addr.port, '127.0.0.1');
    const upgraded = new Promise<void>((resolve) => silent.once('data', () => resolve()));
    silent.write(
      'GET /mi/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const silentClosed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    await upgraded;
    silent.on('data', () => {});
    await silentClosed;
    expect(mi.stats.get('mi:ws_timeouts')).toBeGreaterThanOrEqual(1);
    await until(() => pings >= 3, { what: '3 pings to the reading client' });
    expect(good.readyState).toBe(WebSocket.OPEN);
    good.close();
    await closed(good);
  });

  it('limits WebSocket clients and message size', async () => {
    await using mi = await live({ maxWsClients: 1, maxBodyBytes: 1024 });
    const a = await open(mi.server.wsUrl);
    await expect(open(mi.server.wsUrl)).rejects.toThrow(/503/);
    const c = closed(a);
    a.send(`{"jsonrpc":"2.0","method":"which","params":["${'y'.repeat(2048)}"],"id":1}`);
    expect(await c).toBe(1009);
    expect(mi.stats.get('mi:ws_rejected')).toBe(1);
  });

  it('refuses upgrades on other paths', async () => {
    await using mi = await live();
    await expect(open(mi.server.wsUrl.replace(/\/mi\/ws$/, '/other'))).rejects.toThrow(/404/);
  });

  it('MiClient re-subscribes after the server comes back', async () => {
    const mi = await live();
    const port = mi.server.address().port;
    let reconnected = 0;
    using client = new MiClient({
      url: mi.server.wsUrl,
      reconnect: (n) => (n > 200 ? undefined : 20),
      onReconnect: () => reconnected++,
    });
    const got: EventParams[] = [];
    await client.subscribe('E_TEST', (p) => got.push(p));
    await mi.server.stop();
    const again = new MiServer({ registry: mi.registry, events: mi.events, stats: mi.stats, port });
    await again.start();
    try {
      await until(() => reconnected > 0, { what: 'the client to reconnect' });
      mi.events.raise('E_TEST', { after: 'restart' });
      await until(() => got.length > 0, { what: 'the event after the restart' });
      expect(got).toEqual([{ after: 'restart' }]);
    } finally {
      client.close();
      await again.stop();
    }
  });
});

describe('MiClient reconnect policy', () => {
  it('reports when it gives up', async () => {
    const mi = await live();
    let failed = 0;
    let drops = 0;
    const attempts: number[] = [];
    using client = new MiClient({
      url: mi.server.wsUrl,
      reconnect: (n) => {
        attempts.push(n);
        return n > 3 ? undefined : 5;
      },
      onDisconnect: () => drops++,
      onReconnectFailed: () => failed++,
    });
    await client.subscribe('E_TEST', () => {});
    await mi[Symbol.asyncDispose]();
    await until(() => failed > 0, { what: 'the client to give up reconnecting' });
    expect(drops).toBe(1);
    expect(attempts).toEqual([1, 2, 3, 4]);
    await expect(client.call('which')).rejects.toThrow(/cannot reach/);
  });
});

describe('OpenSIPS-style event_subscribe to udp: and tcp: sockets', () => {
  it('delivers datagrams to a udp: subscriber and stops after unsubscribe', async () => {
    await using mi = await live();
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const { port } = sock.address();
    const received: string[] = [];
    sock.on('message', (m) => received.push(m.toString()));
    using client = new MiClient({ url: mi.server.url });
    expect(await client.call('event_subscribe', ['E_TEST', `udp:127.0.0.1:${port}`, 60])).toBe(
      'OK',
    );
    expect(await client.call('subscribers_list', ['E_TEST'])).toEqual({
      name: 'E_TEST',
      id: expect.any(Number),
      subscribers: [{ socket: `udp:127.0.0.1:${port}`, expire: 60 }],
    });
    await client.call('raise_event', ['E_TEST', { a: 1 }]);
    await until(() => received.length > 0, { what: 'the event datagram' });
    expect(received[0]).toBe('{"jsonrpc":"2.0","method":"E_TEST","params":{"a":1}}');
    expect(await client.call('event_unsubscribe', ['E_TEST', `udp:127.0.0.1:${port}`])).toBe('OK');
    expect(await client.call('subscribers_list', ['E_TEST'])).toMatchObject({ subscribers: [] });
    sock.close();
  });

  it('streams notifications to a tcp: subscriber, with a method override', async () => {
    await using mi = await live();
    let data = '';
    const conns: net.Socket[] = [];
    const srv = net.createServer((c) => {
      conns.push(c);
      c.on('data', (d) => {
        data += d.toString();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const { port } = srv.address() as net.AddressInfo;
    using client = new MiClient({ url: mi.server.url });
    expect(await client.call('event_subscribe', ['E_TEST', `tcp:127.0.0.1:${port}/on_event`])).toBe(
      'OK',
    );
    mi.events.raise('E_TEST', { n: 1 });
    mi.events.raise('E_TEST', { n: 2 });
    const want =
      '{"jsonrpc":"2.0","method":"on_event","params":{"n":1}}{"jsonrpc":"2.0","method":"on_event","params":{"n":2}}';
    await until(() => data.length >= want.length, { what: 'both events on the TCP socket' });
    expect(data).toBe(want);
    mi.events.close();
    for (const c of conns) c.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('refuses bad sockets and unknown events with 400', async () => {
    await using mi = await live();
    using client = new MiClient({ url: mi.server.url });
    await expect(client.call('event_subscribe', ['E_TEST', 'unix:/tmp/x'])).rejects.toMatchObject({
      rpcCode: 400,
    });
    await expect(
      client.call('event_subscribe', ['E_TEST', 'udp:127.0.0.1:99999']),
    ).rejects.toMatchObject({
      rpcCode: 400,
    });
    await expect(
      client.call('event_subscribe', ['E_NOPE', 'udp:127.0.0.1:9']),
    ).rejects.toMatchObject({
      rpcCode: 400,
      message: 'Unknown event',
    });
    await expect(client.call('event_subscribe', ['E_TEST'])).rejects.toMatchObject({
      rpcCode: 400,
    });
  });
});
