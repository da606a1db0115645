import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { until } from '@sipedge/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import {
  parseSourceList,
  type RtppHandler,
  RtppServer,
  reachableBeyondLoopback,
} from '../src/index.js';
import { readLines, readToEnd, tempDir, withTimeout } from './helpers.js';

const handler: RtppHandler = () => ({ kind: 'value', value: '20040107' });

let server: RtppServer | undefined;
afterEach(() => {
  server?.destroy();
  server = undefined;
});

async function start(options: Partial<ConstructorParameters<typeof RtppServer>[0]>) {
  server = new RtppServer({ sockets: ['tcp:127.0.0.1:0'], handler, ...options });
  await server.start();
  return server;
}

/** A UDP socket bound to `from` (any 127/8 address is this host on Linux). */
async function udpFrom(from: string): Promise<{ socket: UdpSocket; replies: string[] }> {
  const socket = createSocket('udp4');
  const replies: string[] = [];
  socket.on('message', (m) => replies.push(m.toString('latin1')));
  await new Promise<void>((r) => socket.bind(0, from, r));
  return { socket, replies };
}

async function tcpFrom(port: number, from: string): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port, localAddress: from });
  s.on('error', () => {});
  await withTimeout(once(s, 'connect'), 2000, 'connect');
  return s;
}

describe('RtppServer command sources', () => {
  it('parses addresses and CIDR blocks, and refuses anything else', () => {
    const list = parseSourceList(['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);
    expect(list.check('10.9.8.7', 'ipv4')).toBe(true);
    expect(list.check('192.0.2.8', 'ipv4')).toBe(false);
    expect(list.check('fd00::1', 'ipv6')).toBe(true);
    expect(() => parseSourceList(['example.com'])).toThrow(/not an IP address/);
    expect(() => parseSourceList(['10.0.0.0/33'])).toThrow(/prefix/);
  });

  it('tells which control sockets other hosts can reach', () => {
    expect(reachableBeyondLoopback('udp:127.0.0.1:22222')).toBe(false);
    expect(reachableBeyondLoopback('tcp6:[::1]:22222')).toBe(false);
    expect(reachableBeyondLoopback('unix:/run/rtpp.sock')).toBe(false);
    expect(reachableBeyondLoopback('udp:*:22222')).toBe(true);
    expect(reachableBeyondLoopback('udp:10.0.0.1:22222')).toBe(true);
  });

  it('udp: a datagram from a source outside allowedSources is dropped unanswered and counted', async () => {
    const s = await start({ sockets: ['udp:127.0.0.1:0'], allowedSources: ['127.0.0.2'] });
    const port = s.addresses()[0]!.port!;
    const outsider = await udpFrom('127.0.0.1');
    const member = await udpFrom('127.0.0.2');
    try {
      outsider.socket.send('c1 V', port, '127.0.0.1');
      member.socket.send('c2 V', port, '127.0.0.1');
      // datagrams are handled in arrival order: once the second is answered, the first was seen
      await until(() => member.replies.length === 1, { what: 'the allowed reply' });
      expect(member.replies).toEqual(['c2 20040107\n']);
      expect(outsider.replies).toEqual([]);
      expect(s.stats()).toMatchObject({ refusedSources: 1, received: 1 });
    } finally {
      outsider.socket.close();
      member.socket.close();
    }
  });

  it('udp: loopback only by default', async () => {
    const s = await start({ sockets: ['udp:127.0.0.1:0'] });
    const peer = await udpFrom('127.0.0.3');
    try {
      peer.socket.send('c V', s.addresses()[0]!.port!, '127.0.0.1');
      await until(() => peer.replies.length === 1, { what: 'the reply' });
    } finally {
      peer.socket.close();
    }
  });

  it('tcp: a connection from a source outside allowedSources is closed at once', async () => {
    const s = await start({ allowedSources: ['127.0.0.2/32'] });
    const port = s.addresses()[0]!.port!;
    const outsider = await tcpFrom(port, '127.0.0.1');
    expect(await readToEnd(outsider)).toBe('');
    const member = await tcpFrom(port, '127.0.0.2');
    const lines = readLines(member, 1);
    member.write('V\n');
    expect(await lines).toEqual(['20040107']);
    member.destroy();
    expect(s.stats()).toMatchObject({ refusedSources: 1, connections: 1 });
  });

  it('101 idle tcp connections from one source do not lock out another (the cap is per source)', async () => {
    const s = await start({});
    const port = s.addresses()[0]!.port!;
    const idle: Socket[] = [];
    for (let i = 0; i < 101; i++) idle.push(await tcpFrom(port, '127.0.0.2'));
    await until(() => s.stats().sourceLimitedConnections === 101 - 16, {
      what: 'all but 16 refused',
    });
    const client = await tcpFrom(port, '127.0.0.1');
    const lines = readLines(client, 1);
    client.write('V\n');
    expect(await lines).toEqual(['20040107']);
    client.destroy();
    for (const c of idle) c.destroy();
    expect(s.stats()).toMatchObject({ connections: 17, rejectedConnections: 0 });
  });

  it('a slot is free again when a connection of that source closes', async () => {
    const s = await start({ maxConnectionsPerSource: 1 });
    const port = s.addresses()[0]!.port!;
    const first = await tcpFrom(port, '127.0.0.2');
    const second = await tcpFrom(port, '127.0.0.2');
    expect(await readToEnd(second)).toBe('');
    first.destroy();
    await until(() => s.stats().openConnections === 0, { what: 'first closed on the server' });
    const third = await tcpFrom(port, '127.0.0.2');
    await until(() => s.stats().connections === 2, { what: 'third accepted' });
    const lines = readLines(third, 1);
    third.write('V\n');
    expect(await lines).toEqual(['20040107']);
    third.destroy();
  });

  it('tcp: an idle connection is closed after idleTimeoutMs and counted', async () => {
    const s = await start({ idleTimeoutMs: 150 });
    const c = await tcpFrom(s.addresses()[0]!.port!, '127.0.0.1');
    const lines = readLines(c, 1);
    c.write('V\n');
    await lines;
    expect(await readToEnd(c)).toBe('');
    expect(s.stats().idleClosed).toBe(1);
  });

  it('unix sockets are not limited by source (their file permissions are the guard)', async () => {
    const dir = tempDir();
    try {
      const s = await start({
        sockets: [`cunix:${dir.path('c.sock')}`],
        allowedSources: ['192.0.2.1'],
        maxConnectionsPerSource: 1,
      });
      const a = connect({ path: dir.path('c.sock') });
      const b = connect({ path: dir.path('c.sock') });
      const la = readLines(a, 1);
      const lb = readLines(b, 1);
      a.write('V\n');
      b.write('V\n');
      expect([await la, await lb]).toEqual([['20040107'], ['20040107']]);
      a.destroy();
      b.destroy();
      expect(s.stats()).toMatchObject({ refusedSources: 0, sourceLimitedConnections: 0 });
    } finally {
      dir.remove();
    }
  });
});
