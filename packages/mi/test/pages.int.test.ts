/** Pages beside the MI (a dashboard) and what a browser needs to reach the MI from them. */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { MiPages } from '../src/transport/pages.js';
import { live, request } from './helpers.js';

const TOKEN = 'a-token-of-16-chars-or-more';

/** Answers every request with the path it was given. */
const echoPages: MiPages = {
  path: '/',
  serve: (_req, res, pathname) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(pathname);
  },
};

function upgrade(
  url: string,
  protocols: string[],
  headers: Record<string, string> = {},
): Promise<{ status: number; protocol: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { headers });
    // a client that offered subprotocols fails when the server picks none
    ws.on('error', () => resolve({ status: -1, protocol: '' }));
    ws.once('open', () => {
      resolve({ status: 101, protocol: ws.protocol });
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, protocol: '' });
      ws.terminate();
    });
  });
}

const base64url = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

describe('MI pages', () => {
  it('serves GET and HEAD outside the MI root; the MI root and POSTs stay the MI', async () => {
    await using mi = await live({ pages: echoPages });
    const origin = new URL(mi.server.url).origin;
    const page = await request(`${origin}/cluster`, { method: 'GET' });
    expect([page.status, page.body]).toEqual([200, '/cluster']);
    expect((await request(`${origin}/`, { method: 'HEAD' })).status).toBe(200);
    expect((await request(`${origin}/`, { method: 'POST', body: '{}' })).status).toBe(405);
    const rpc = await request(mi.server.url, { body: '{"jsonrpc":"2.0","method":"which","id":1}' });
    expect(rpc.status).toBe(200);
    expect(rpc.body).toContain('"result"');
  });

  it('answers 404 outside the MI root without pages, and outside the pages path', async () => {
    await using none = await live();
    expect((await request(`${new URL(none.server.url).origin}/`, { method: 'GET' })).status).toBe(
      404,
    );
    await using under = await live({ pages: { ...echoPages, path: '/dash/' } });
    const origin = new URL(under.server.url).origin;
    expect((await request(`${origin}/dash`, { method: 'GET' })).status).toBe(200);
    expect((await request(`${origin}/dash/app.js`, { method: 'GET' })).status).toBe(200);
    expect((await request(`${origin}/dashboard`, { method: 'GET' })).status).toBe(404);
    expect((await request(`${origin}/`, { method: 'GET' })).status).toBe(404);
  });

  it('allows the pages’ own origin on the MI only when the host is an IP literal', async () => {
    await using mi = await live({ pages: echoPages });
    const own = new URL(mi.server.url).origin;
    const body = '{"jsonrpc":"2.0","method":"which","id":1}';
    expect((await request(mi.server.url, { body, headers: { Origin: own } })).status).toBe(200);
    const port = new URL(own).port;
    // a DNS-rebinding page: its origin matches the Host it sends, but the host is a name
    const rebound = { Origin: `http://evil.example:${port}`, Host: `evil.example:${port}` };
    expect((await request(mi.server.url, { body, headers: rebound })).status).toBe(403);
    expect((await request(`${own}/`, { method: 'GET', headers: rebound })).status).toBe(403);
    expect((await upgrade(mi.server.wsUrl, [], { Origin: own })).status).toBe(101);
    await using closed = await live();
    expect(
      (
        await request(closed.server.url, {
          body,
          headers: { Origin: new URL(closed.server.url).origin },
        })
      ).status,
    ).toBe(403);
  });

  it('takes the token of a WebSocket upgrade from a subprotocol and never echoes it', async () => {
    await using mi = await live({ token: TOKEN });
    const url = mi.server.wsUrl;
    expect((await upgrade(url, ['sipedge-mi'])).status).toBe(401);
    expect(
      (await upgrade(url, ['sipedge-mi', `bearer.${base64url('wrong-token-of-16-chars')}`])).status,
    ).toBe(401);
    expect(await upgrade(url, ['sipedge-mi', `bearer.${base64url(TOKEN)}`])).toEqual({
      status: 101,
      protocol: 'sipedge-mi',
    });
    // the token alone is accepted, but never picked as the protocol, so the client gives up
    expect(await upgrade(url, [`bearer.${base64url(TOKEN)}`])).toEqual({
      status: -1,
      protocol: '',
    });
    // over HTTP only the Authorization header counts
    const body = '{"jsonrpc":"2.0","method":"which","id":1}';
    const viaProtocol = await request(mi.server.url, {
      body,
      headers: { 'Sec-WebSocket-Protocol': `bearer.${base64url(TOKEN)}` },
    });
    expect(viaProtocol.status).toBe(401);
  });
});
