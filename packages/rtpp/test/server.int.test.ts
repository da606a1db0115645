import { VirtualClock } from '@sipedge/core/testing';
import { until } from '@sipedge/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RtppCommand, RtppHandler, RtppReply, RtppRequestContext } from '../src/index.js';
import {
  parseReply,
  RtppArgumentError,
  RtppClosedError,
  RtppServer,
  RtppSocketError,
} from '../src/index.js';
import { readLines, readToEnd, streamConnect, tempDir, UdpPeer, withTimeout } from './helpers.js';

interface Call {
  command: RtppCommand;
  ctx: RtppRequestContext;
}

/** A handler that answers like a tiny rtpproxy and records its calls. */
function recorder() {
  const calls: Call[] = [];
  const handler = (command: RtppCommand, ctx: RtppRequestContext): RtppReply => {
    calls.push({ command, ctx });
    switch (command.kind) {
      case 'V':
        return { kind: 'value', value: '20040107' };
      case 'VF':
        return { kind: 'value', value: command.date === '20050322' ? '1' : '0' };
      case 'U':
        return { kind: 'port', port: 35000, address: '127.0.0.1', ipv6: false, subResults: [] };
      case 'I':
        return {
          kind: 'info',
          entries: [
            ['sessions created', '0'],
            ['active sessions', '0'],
          ],
        };
      case 'G':
        return { kind: 'list', values: [], subResults: [] };
      default:
        return { kind: 'value', value: '0' };
    }
  };
  return { calls, handler };
}

/**
 * A handler that leaves every command unanswered until `release()` (then `0`); `started`
 * resolves at its first call.
 */
function heldReplies() {
  const releases: (() => void)[] = [];
  let calls = 0;
  let markStarted: () => void = () => {};
  const started = new Promise<void>((ok) => {
    markStarted = ok;
  });
  const handler = (): Promise<RtppReply> => {
    calls++;
    markStarted();
    return new Promise<RtppReply>((resolve) => {
      releases.push(() => resolve({ kind: 'value', value: '0' }));
    });
  };
  const release = (): void => {
    for (const r of releases.splice(0)) r();
  };
  return { handler, started, release, calls: () => calls };
}

let dir: ReturnType<typeof tempDir>;
let server: RtppServer | undefined;
const peers: UdpPeer[] = [];

beforeEach(() => {
  dir = tempDir();
});
afterEach(async () => {
  server?.destroy();
  server = undefined;
  for (const p of peers.splice(0)) p.close();
  dir.remove();
});

async function udpServer(handler: RtppHandler, extra = {}) {
  server = new RtppServer({ sockets: ['udp:127.0.0.1:0'], handler, ...extra });
  await server.start();
  const port = server.addresses()[0]!.port!;
  const peer = await UdpPeer.open();
  peers.push(peer);
  return { server, port, peer };
}

describe('RtppServer over UDP', () => {
  it('answers with the cookie, reports the bound port and the peer', async () => {
    const r = recorder();
    const { server, port, peer } = await udpServer(r.handler);
    expect(server.addresses()[0]).toMatchObject({
      transport: 'udp',
      configured: 'udp:127.0.0.1:0',
      spec: `udp:127.0.0.1:${port}`,
      host: '127.0.0.1',
    });
    expect(port).toBeGreaterThan(0);
    peer.send('8763_0 V', port);
    expect(await peer.next()).toBe('8763_0 20040107\n');
    peer.send('8760_4 Uc0 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1', port);
    expect(await peer.next()).toBe('8760_4 35000 127.0.0.1\n');
    expect(r.calls[1]!.command).toMatchObject({ kind: 'U', callId: '1-9094@127.0.0.1' });
    expect(r.calls[1]!.ctx).toEqual({
      transport: 'udp',
      socket: 'udp:127.0.0.1:0',
      peer: { address: '127.0.0.1', port: peer.socket.address().port },
      cookie: '8760_4',
    });
  });

  it('answers malformed commands with rtpproxy error codes, without the handler', async () => {
    const r = recorder();
    const { server, port, peer } = await udpServer(r.handler);
    const cases: [string, string][] = [
      ['V', 'V E5\n'],
      ['c1 ', 'c1 E5\n'],
      ['c2 Z', 'c2 E0\n'],
      ['c3 D callid', 'c3 E1\n'],
      ['c4 V x', 'c4 E1\n'],
      ['c5 D c f t && x', 'c5 E3\n'],
      [`c6 G${' a'.repeat(30)}`, 'c6 E5\n'],
      ['c7 I q', 'c7 E1\n'],
      ['  \r\n', 'E5\n'],
    ];
    for (const [sent, want] of cases) {
      peer.send(sent, port);
      expect(await peer.next(), sent).toBe(want);
    }
    expect(r.calls).toHaveLength(0);
    expect(server.stats()).toMatchObject({ errors: cases.length, received: cases.length });
  });

  it('answers a retransmit from the cache without calling the handler again', async () => {
    const r = recorder();
    const { server, port, peer } = await udpServer(r.handler);
    peer.send('k1 VF 20050322', port);
    expect(await peer.next()).toBe('k1 1\n');
    peer.send('k1 VF 20050322', port);
    expect(await peer.next()).toBe('k1 1\n');
    // the same cookie from another sender is another command
    const other = await UdpPeer.open();
    peers.push(other);
    other.send('k1 VF 20050322', port);
    expect(await other.next()).toBe('k1 1\n');
    expect(r.calls).toHaveLength(2);
    expect(server.stats()).toMatchObject({ received: 3, duplicates: 1, cached: 2 });
  });

  it('forgets a cached reply after the cache window (virtual clock)', async () => {
    const r = recorder();
    const clock = new VirtualClock();
    const { port, peer } = await udpServer(r.handler, { clock, replyCacheMs: 1000 });
    peer.send('w V', port);
    expect(await peer.next()).toBe('w 20040107\n');
    clock.advance(999);
    peer.send('w V', port);
    expect(await peer.next()).toBe('w 20040107\n');
    expect(r.calls).toHaveLength(1); // inside the window: from the cache
    clock.advance(1001);
    peer.send('w V', port);
    expect(await peer.next()).toBe('w 20040107\n');
    expect(r.calls).toHaveLength(2); // two windows later: handled again
  });

  it('drops a retransmit that arrives while the first copy is being handled', async () => {
    const held = heldReplies();
    const { server, port, peer } = await udpServer(held.handler);
    peer.send('slow X', port);
    await withTimeout(held.started, 2000, 'handler start');
    peer.send('slow X', port);
    peer.send('probe X', port); // a fresh cookie; its handler call tells us the retransmit was seen
    await until(() => held.calls() >= 2, { what: 'the second command handled', intervalMs: 1 });
    expect(server.stats().inProgressDrops).toBe(1);
    held.release();
    const replies = [await peer.next(), await peer.next()].sort();
    expect(replies).toEqual(['probe 0\n', 'slow 0\n']);
    expect(peer.queued).toBe(0);
  });

  it('counts and drops an oversize datagram (no reply)', async () => {
    const r = recorder();
    const { server, port, peer } = await udpServer(r.handler);
    peer.send(Buffer.from(`big D ${'x'.repeat(9000)} f`), port);
    peer.send('after V', port);
    expect(await peer.next()).toBe('after 20040107\n');
    expect(server.stats()).toMatchObject({ oversize: 1, received: 1 });
    expect(r.calls).toHaveLength(1);
  });

  it('turns a throwing or rejecting handler into an error reply', async () => {
    let n = 0;
    const { server, port, peer } = await udpServer(() => {
      n++;
      if (n === 1) throw new Error('boom');
      if (n === 2) return Promise.reject(new Error('async boom'));
      if (n === 3) {
        const circular: Record<string, unknown> = { kind: 'nonsense' };
        circular.self = circular;
        return circular as unknown as RtppReply;
      }
      return undefined as unknown as RtppReply;
    });
    peer.send('a V', port);
    expect(await peer.next()).toBe('a E89\n');
    peer.send('b V', port);
    expect(await peer.next()).toBe('b E89\n');
    peer.send('c V', port);
    expect(await peer.next()).toBe('c E89\n');
    peer.send('d V', port);
    expect(await peer.next()).toBe('d E89\n');
    expect(server.stats().handlerErrors).toBe(4);
  });

  it('rewrites parse-error codes with parseErrorCode (a balancer never answers E7–E10 to a client)', async () => {
    const r = recorder();
    const { port, peer } = await udpServer(r.handler, {
      parseErrorCode: (code: number) => (code >= 7 && code <= 10 ? 2 : code),
    });
    peer.send('a Dx c f', port); // rtpproxy: E8 (bad D modifier)
    expect(await peer.next()).toBe('a E2\n');
    peer.send('b Gq', port); // rtpproxy: E9 (bad G modifier)
    expect(await peer.next()).toBe('b E2\n');
    peer.send('c D c', port); // E1 stays E1
    expect(await peer.next()).toBe('c E1\n');
    expect(r.calls).toHaveLength(0);
  });

  it('textHandler answers from the text first; declined commands are parsed; retransmits hit the cache', async () => {
    const r = recorder();
    const texts: string[] = [];
    let n = 0;
    const { server, port, peer } = await udpServer(r.handler, {
      textHandler: (text: string) => {
        texts.push(text);
        if (text.startsWith('U')) return Promise.resolve('35002 127.0.0.1\n');
        if (text.startsWith('D')) return '0\n';
        if (text.startsWith('X')) {
          n++;
          if (n === 1) throw new Error('boom');
          return Promise.reject(new Error('async boom'));
        }
        return undefined;
      },
    });
    peer.send('k1 U c1 127.0.0.1 6000 f;1', port);
    expect(await peer.next()).toBe('k1 35002 127.0.0.1\n');
    peer.send('k1 U c1 127.0.0.1 6000 f;1', port);
    expect(await peer.next()).toBe('k1 35002 127.0.0.1\n');
    peer.send('k2  D c1 f \n', port);
    expect(await peer.next()).toBe('k2 0\n');
    peer.send('k3 VF 20050322', port);
    expect(await peer.next()).toBe('k3 1\n');
    peer.send('k4 X', port);
    expect(await peer.next()).toBe('k4 E89\n');
    peer.send('k5 X', port);
    expect(await peer.next()).toBe('k5 E89\n');
    // the text handler saw each command once, trimmed; the handler only what it declined
    expect(texts).toEqual(['U c1 127.0.0.1 6000 f;1', 'D c1 f', 'VF 20050322', 'X', 'X']);
    expect(r.calls.map((c) => c.command.kind)).toEqual(['VF']);
    expect(server.stats()).toMatchObject({ received: 6, duplicates: 1, handlerErrors: 2 });
  });

  it('textHandler may answer through respond (once); the reply is cached for retransmits', async () => {
    const r = recorder();
    const later: ((body: string) => void)[] = [];
    const { server, port, peer } = await udpServer(r.handler, {
      textHandler: (text: string, _ctx: unknown, respond: (body: string) => void) => {
        if (text.startsWith('U')) {
          later.push(respond);
          return true;
        }
        if (text.startsWith('D')) {
          respond('0\n');
          respond('E1\n'); // a second answer is ignored
          return true;
        }
        if (text.startsWith('X')) {
          respond('0\n');
          throw new Error('after answering'); // counted, not answered twice
        }
        return undefined;
      },
    });
    peer.send('k1 U c1 127.0.0.1 6000 f;1', port);
    await until(() => later.length === 1, { what: 'the U handled' });
    peer.send('k1 U c1 127.0.0.1 6000 f;1', port); // in progress: dropped
    await until(() => server.stats().inProgressDrops === 1, { what: 'the retransmit dropped' });
    expect(server.stats().inFlight).toBe(1);
    later[0]!('35002 127.0.0.1\n');
    expect(await peer.next()).toBe('k1 35002 127.0.0.1\n');
    peer.send('k1 U c1 127.0.0.1 6000 f;1', port);
    expect(await peer.next()).toBe('k1 35002 127.0.0.1\n');
    peer.send('k2 D c1 f', port);
    expect(await peer.next()).toBe('k2 0\n');
    peer.send('k3 X', port);
    expect(await peer.next()).toBe('k3 0\n');
    peer.send('k4 V', port);
    expect(await peer.next()).toBe('k4 20040107\n');
    expect(later).toHaveLength(1);
    expect(server.stats()).toMatchObject({ duplicates: 1, handlerErrors: 1, inFlight: 0 });
  });

  it('bounds the reply cache', async () => {
    const r = recorder();
    const { server, port, peer } = await udpServer(r.handler, { maxCachedReplies: 4 });
    for (let i = 0; i < 10; i++) {
      peer.send(`c${i} V`, port);
      await peer.next();
    }
    expect(server.stats().cached).toBeLessThanOrEqual(4);
    peer.send('c0 V', port); // evicted: handled again
    await peer.next();
    expect(r.calls).toHaveLength(11);
  });

  it('serves udp6 on ::1', async () => {
    const r = recorder();
    server = new RtppServer({ sockets: ['udp6:[::1]:0'], handler: r.handler });
    await server.start();
    const a = server.addresses()[0]!;
    expect(a.spec).toBe(`udp6:[::1]:${a.port}`);
    const peer = await UdpPeer.open('udp6');
    peers.push(peer);
    peer.send('k V', a.port!, '::1');
    expect(await peer.next()).toBe('k 20040107\n');
    expect(r.calls[0]!.ctx.peer?.address).toBe('::1');
  });
});

describe('RtppServer over stream sockets', () => {
  it('unix: one command per connection, no newline needed, then close', async () => {
    const r = recorder();
    const path = dir.path('rtpp.sock');
    server = new RtppServer({ sockets: [`unix:${path}`], handler: r.handler });
    await server.start();
    expect(server.addresses()[0]).toMatchObject({ transport: 'unix', path, spec: `unix:${path}` });
    for (const cmd of ['V', 'VF 20050322\n', 'I']) {
      const s = await streamConnect({ path });
      const got = readToEnd(s);
      s.write(cmd);
      const text = await got;
      expect(parseReply(text, cmd[0] === 'I' ? 'I' : 'V').kind).not.toBe('error');
    }
    expect(r.calls.map((c) => c.command.kind)).toEqual(['V', 'VF', 'I']);
    expect(r.calls[0]!.ctx).toEqual({ transport: 'unix', socket: `unix:${path}` });
  });

  it('unix: an oversize command is dropped and counted', async () => {
    const r = recorder();
    const path = dir.path('rtpp.sock');
    server = new RtppServer({ sockets: [`unix:${path}`], handler: r.handler, maxDatagram: 64 });
    await server.start();
    const s = await streamConnect({ path });
    const got = readToEnd(s);
    s.write(`D ${'x'.repeat(100)} f`);
    expect(await got).toBe('');
    expect(server.stats().oversize).toBe(1);
    expect(r.calls).toHaveLength(0);
  });

  /** A server on a `cunix` socket or loopback TCP, and a connection to it. */
  async function streamServer(kind: 'cunix' | 'tcp', handler: RtppHandler, extra = {}) {
    const spec = kind === 'cunix' ? `cunix:${dir.path('c.sock')}` : 'tcp:127.0.0.1:0';
    server = new RtppServer({ sockets: [spec], handler, ...extra });
    await server.start();
    const a = server.addresses()[0]!;
    const socket = await streamConnect(
      a.path !== undefined ? { path: a.path } : { host: '127.0.0.1', port: a.port! },
    );
    return { server, socket };
  }

  for (const kind of ['cunix', 'tcp'] as const) {
    it(`${kind}: newline-framed commands on one connection, replies in order`, async () => {
      const order: string[] = [];
      // the first command is answered last: replies must still come back in command order
      let releaseFirst: (() => void) | undefined;
      const handler = (c: RtppCommand): RtppReply | Promise<RtppReply> => {
        order.push(c.kind);
        if (c.kind === 'D') {
          return new Promise((resolve) => {
            releaseFirst = () => resolve({ kind: 'value', value: '0' });
          });
        }
        if (c.kind === 'V') {
          releaseFirst?.();
          return { kind: 'value', value: '20040107' };
        }
        return { kind: 'list', values: [], subResults: [] };
      };
      const { socket: s } = await streamServer(kind, handler);
      const lines = readLines(s, 5);
      s.write('D c f t\r\n\n   \nG\nZZ\nV\n');
      s.write('D c\n');
      expect(await lines).toEqual(['0', '', 'E0', '20040107', 'E1']);
      expect(order).toEqual(['D', 'G', 'V']);
      s.destroy();
    });

    it(`${kind}: an overlong line drops the connection and is counted`, async () => {
      const r = recorder();
      const { server, socket: s } = await streamServer(kind, r.handler, { maxLine: 100 });
      const got = readToEnd(s);
      s.write(`V\n${'x'.repeat(200)}`);
      expect(await got).toBe('20040107\n');
      expect(server.stats().oversize).toBe(1);
    });
  }

  it('refuses connections beyond maxConnections', async () => {
    const r = recorder();
    server = new RtppServer({
      sockets: ['tcp:127.0.0.1:0'],
      handler: r.handler,
      maxConnections: 2,
    });
    await server.start();
    const port = server.addresses()[0]!.port!;
    const a = await streamConnect({ host: '127.0.0.1', port });
    const b = await streamConnect({ host: '127.0.0.1', port });
    const la = readLines(a, 1);
    a.write('V\n');
    await la;
    const lb = readLines(b, 1);
    b.write('V\n');
    await lb;
    const c = await streamConnect({ host: '127.0.0.1', port });
    expect(await readToEnd(c)).toBe('');
    expect(server.stats()).toMatchObject({ connections: 2, rejectedConnections: 1 });
    a.destroy();
    b.destroy();
  });
  it('tcp: stop() sends the replies being computed, then closes the connection', async () => {
    const releases: (() => void)[] = [];
    server = new RtppServer({
      sockets: ['tcp:127.0.0.1:0'],
      handler: (c) =>
        c.kind === 'X'
          ? new Promise<RtppReply>((resolve) => {
              releases.push(() => resolve({ kind: 'value', value: '0' }));
            })
          : { kind: 'value', value: '20040107' },
    });
    await server.start();
    const s = await streamConnect({ host: '127.0.0.1', port: server.addresses()[0]!.port! });
    const all = readToEnd(s);
    s.write('V\nX\n');
    await until(() => releases.length > 0, { what: 'X handled', intervalMs: 1 });
    const stopped = server.stop();
    releases[0]!();
    await withTimeout(stopped, 2000, 'stop');
    expect(await all).toBe('20040107\n0\n');
  });
});

describe('RtppServer lifecycle', () => {
  it('rejects bad socket specs at construction', () => {
    expect(
      () =>
        new RtppServer({
          sockets: ['udp:1.2.3.4:x'],
          handler: () => ({ kind: 'value', value: '0' }),
        }),
    ).toThrow(RtppArgumentError);
  });

  it('fails start() with RtppSocketError when a port is taken, unbinding the others', async () => {
    const r = recorder();
    server = new RtppServer({ sockets: ['udp:127.0.0.1:0'], handler: r.handler });
    await server.start();
    const port = server.addresses()[0]!.port!;
    const path = dir.path('x.sock');
    const second = new RtppServer({
      sockets: [`cunix:${path}`, `udp:127.0.0.1:${port}`],
      handler: r.handler,
    });
    await expect(second.start()).rejects.toThrow(RtppSocketError);
    second.destroy();
  });

  it('destroy() during start() unbinds and rejects start()', async () => {
    const r = recorder();
    const s = new RtppServer({
      sockets: ['udp:127.0.0.1:0', 'tcp:127.0.0.1:0'],
      handler: r.handler,
    });
    const started = s.start();
    s.destroy();
    await expect(started).rejects.toBeInstanceOf(RtppClosedError);
    // nothing stays bound: the addresses fall back to the configured port 0
    expect(s.addresses().map((a) => a.port)).toEqual([0, 0]);
    expect(s.stats().inFlight).toBe(0);
  });

  it('a reply that comes after destroy() is dropped quietly', async () => {
    const held = heldReplies();
    const { server, port, peer } = await udpServer(held.handler);
    peer.send('late X', port);
    await withTimeout(held.started, 2000, 'handler start');
    server.destroy();
    held.release();
    await new Promise((r) => setImmediate(r));
    expect(server.stats().replied).toBe(0);
  });

  it('stop() waits for commands being handled and sends their replies', async () => {
    const held = heldReplies();
    const { server, port, peer } = await udpServer(held.handler);
    peer.send('k X', port);
    await withTimeout(held.started, 2000, 'handler start');
    const stopped = server.stop();
    held.release();
    expect(await peer.next()).toBe('k 0\n');
    await withTimeout(stopped, 2000, 'stop');
    await withTimeout(server.stop(), 2000, 'second stop');
    server.destroy();
  });
});
