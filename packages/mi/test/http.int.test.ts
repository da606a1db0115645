import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { until } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { MiClient } from '../src/client/client.js';
import { MiRpcError, MiTransportError } from '../src/errors.js';
import { MiSecurityError } from '../src/security/policy.js';
import { MiServer } from '../src/transport/server.js';
import { live, request } from './helpers.js';

const TOKEN = 'a-long-test-token-0123456789';

describe('MI over HTTP (real loopback socket)', () => {
  it('answers with and without Content-Type: application/json', async () => {
    await using mi = await live();
    const body = '{"jsonrpc":"2.0","method":"sr_get_status","params":["core"],"id":1}';
    const expected =
      '{"jsonrpc":"2.0","result":{"Readiness":true,"Status":1,"Details":"running"},"id":1}';
    const a = await request(mi.server.url, {
      body,
      headers: { 'Content-Type': 'application/json' },
    });
    const b = await request(mi.server.url, { body });
    for (const r of [a, b]) {
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.body).toBe(expected);
    }
  });

  it('HTTP 200 for JSON-RPC errors, including parse errors', async () => {
    await using mi = await live();
    const r = await request(mi.server.url, { body: '{"jsonrpc":"2.0","method":"nope","id":4}' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({
      jsonrpc: '2.0',
      error: { code: -32601, message: 'Method not found' },
      id: 4,
    });
    const p = await request(mi.server.url, { body: '{not json' });
    expect(p.status).toBe(200);
    expect(JSON.parse(p.body)).toMatchObject({ error: { code: -32700 }, id: null });
    expect(mi.stats.get('mi:parse_errors')).toBe(1);
  });

  it('202 and no body for a notification; the command still runs', async () => {
    await using mi = await live();
    let seen = 0;
    mi.events.on('E_TEST', () => seen++);
    const r = await request(mi.server.url, {
      body: '{"jsonrpc":"2.0","method":"raise_event","params":["E_TEST"]}',
    });
    expect(r.status).toBe(202);
    expect(r.body).toBe('');
    expect(seen).toBe(1);
  });

  it('405 for non-POST, 400 for an empty body, 404 outside the root, 413 over the size limit', async () => {
    await using mi = await live({ maxBodyBytes: 1024 });
    const get = await request(mi.server.url, { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect((await request(mi.server.url, { body: '' })).status).toBe(400);
    expect((await request(mi.server.url, { body: '  \r\n' })).status).toBe(400);
    const base = mi.server.url.replace(/\/mi$/, '');
    expect((await request(`${base}/mix`, { body: '{}' })).status).toBe(404);
    expect((await request(`${base}/other`, { body: '{}' })).status).toBe(404);
    const sub = await request(`${base}/mi/anything`, {
      body: '{"jsonrpc":"2.0","method":"which","id":1}',
    });
    expect(sub.status).toBe(200);
    const big = `{"jsonrpc":"2.0","method":"which","params":["${'x'.repeat(2000)}"],"id":1}`;
    expect((await request(mi.server.url, { body: big })).status).toBe(413);
    expect(mi.stats.get('mi:oversize')).toBe(1);
  });

  it('413 for an oversize chunked body without Content-Length', async () => {
    await using mi = await live({ maxBodyBytes: 1024 });
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(mi.server.url, { method: 'POST', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('x'.repeat(800));
      req.write('y'.repeat(800));
    });
    expect(status).toBe(413);
    expect(mi.stats.get('mi:oversize')).toBe(1);
  });

  it('a batch over HTTP returns an array', async () => {
    await using mi = await live();
    const r = await request(mi.server.url, {
      body: JSON.stringify([
        { jsonrpc: '2.0', method: 'which', id: 1 },
        { jsonrpc: '2.0', method: 'sr_get_status', params: ['nope'], id: 2 },
      ]),
    });
    const replies = JSON.parse(r.body) as { id: number }[];
    expect(replies.map((x) => x.id)).toEqual([1, 2]);
    expect(replies[1]).toEqual({
      jsonrpc: '2.0',
      error: { code: 404, message: 'Group not found' },
      id: 2,
    });
  });

  it('MiClient over keep-alive: results and typed errors', async () => {
    await using mi = await live();
    using client = new MiClient({ url: mi.server.url });
    for (let i = 0; i < 20; i++)
      expect(await client.call('sr_get_status', ['core'])).toMatchObject({ Status: 1 });
    const err = await client.call('sr_get_status', ['nope']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MiRpcError);
    expect(err).toMatchObject({ rpcCode: 404, message: 'Group not found' });
    const bad = await client.call('get_statistics').catch((e: unknown) => e);
    expect(bad).toMatchObject({ rpcCode: -32602, data: 'Too few or too many parameters' });
  });

  it('start() on a port in use rejects; destroy() drops everything at once', async () => {
    await using mi = await live();
    const clash = new MiServer({ registry: mi.registry, port: mi.server.address().port });
    await expect(clash.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    clash.destroy();
    const other = new MiServer({ registry: mi.registry, port: 0 });
    await other.start();
    using client = new MiClient({ url: other.wsUrl });
    expect(await client.call('which')).toContain('which');
    other.destroy();
    await expect(client.call('which')).rejects.toThrow();
  });

  it('MiClient reports an unreachable server as a transport error', async () => {
    const mi = await live();
    const url = mi.server.url;
    await mi[Symbol.asyncDispose]();
    using client = new MiClient({ url });
    await expect(client.call('which')).rejects.toBeInstanceOf(MiTransportError);
  });
});

describe('MI security', () => {
  it('refuses requests from browsers (an Origin header) unless the origin is allowed', async () => {
    await using mi = await live({ allowedOrigins: ['https://ops.example'] });
    const body = '{"jsonrpc":"2.0","method":"which","id":1}';
    const evil = await request(mi.server.url, {
      body,
      headers: { Origin: 'https://evil.example', 'Content-Type': 'text/plain' },
    });
    expect(evil.status).toBe(403);
    const ok = await request(mi.server.url, { body, headers: { Origin: 'https://ops.example' } });
    expect(ok.status).toBe(200);
    const ws = new WebSocket(mi.server.wsUrl, { origin: 'https://evil.example' });
    ws.on('error', () => {});
    const refused = await new Promise<number>((resolve) =>
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      }),
    );
    expect(refused).toBe(403);
  });

  it('caps open connections', async () => {
    await using mi = await live({ maxConnections: 2 });
    const { port } = mi.server.address();
    const held: net.Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const s = net.connect(port, '127.0.0.1');
      await once(s, 'connect');
      held.push(s);
    }
    // the listener has accepted both before the third arrives
    await until(() => mi.server.connections >= 2, { what: 'both connections accepted' });
    const third = net.connect(port, '127.0.0.1');
    third.on('error', () => {});
    await once(third, 'close');
    const r = await request(mi.server.url, {
      body: '{"jsonrpc":"2.0","method":"which","id":1}',
    }).catch((e: unknown) => e);
    expect(r).toBeInstanceOf(Error);
    for (const s of held) s.destroy();
    await until(() => mi.server.connections === 0, { what: 'the connections closed' });
    const after = await request(mi.server.url, {
      body: '{"jsonrpc":"2.0","method":"which","id":1}',
    });
    expect(after.status).toBe(200);
  });

  it('refuses to bind to a non-loopback address without a token (policy checked before listening)', () => {
    const core = { registry: undefined as never };
    expect(() => new MiServer({ ...core, host: '0.0.0.0' })).toThrow(MiSecurityError);
    expect(() => new MiServer({ ...core, host: '::' })).toThrow(MiSecurityError);
    expect(() => new MiServer({ ...core, host: '10.1.2.3' })).toThrow(/requires a token/);
    expect(() => new MiServer({ ...core, host: '127.0.0.1', token: 'short' })).toThrow(
      /16 characters/,
    );
  });

  it('a token-protected listener refuses calls without the right bearer token', async () => {
    await using mi = await live({ token: TOKEN });
    const body = '{"jsonrpc":"2.0","method":"which","id":1}';
    const none = await request(mi.server.url, { body });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(none.body).toBe('');
    const wrong = await request(mi.server.url, {
      body,
      headers: { Authorization: `Bearer ${TOKEN}x` },
    });
    expect(wrong.status).toBe(401);
    const basic = await request(mi.server.url, {
      body,
      headers: { Authorization: `Basic ${TOKEN}` },
    });
    expect(basic.status).toBe(401);
    const ok = await request(mi.server.url, {
      body,
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(ok.status).toBe(200);

    using anonymous = new MiClient({ url: mi.server.url });
    await expect(anonymous.call('which')).rejects.toThrow(/HTTP 401/);
    using authed = new MiClient({ url: mi.server.url, token: TOKEN });
    expect(await authed.call('which')).toContain('which');
    using wsAnonymous = new MiClient({ url: mi.server.wsUrl });
    await expect(wsAnonymous.call('which')).rejects.toThrow(/HTTP 401/);
    using wsAuthed = new MiClient({ url: mi.server.wsUrl, token: TOKEN });
    expect(await wsAuthed.call('which')).toContain('which');
  });
});
