/** RtppClient ↔ RtppServer on real loopback sockets, every transport. */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { VirtualClock } from '@sipedge/core/testing';
import { until } from '@sipedge/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  RtppClient,
  type RtppClientOptions,
  type RtppCommand,
  type RtppHandler,
  type RtppReply,
  RtppServer,
  RtppSocketError,
  RtppTimeoutError,
} from '../src/index.js';
import { tempDir, withTimeout } from './helpers.js';

function answer(c: RtppCommand): RtppReply {
  switch (c.kind) {
    case 'V':
      return { kind: 'value', value: '20040107' };
    case 'VF':
      return { kind: 'value', value: c.date === '20050322' ? '1' : '0' };
    case 'U':
    case 'L':
      return { kind: 'port', port: 35000, address: '127.0.0.1', ipv6: false, subResults: [] };
    case 'D':
      return c.callId === 'gone' ? { kind: 'error', code: 50 } : { kind: 'value', value: '0' };
    case 'I':
      return {
        kind: 'info',
        entries: [
          ['sessions created', '3'],
          ['active sessions', '1'],
          ['active streams', '2'],
          ['packets received', '10'],
          ['packets transmitted', '9'],
        ],
      };
    case 'G':
      return { kind: 'list', values: c.names.map(() => '7'), subResults: [] };
    default:
      return { kind: 'value', value: '0' };
  }
}

let dir: ReturnType<typeof tempDir>;
const cleanup: (() => void)[] = [];
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  for (const f of cleanup.splice(0).reverse()) f();
  dir.remove();
});

async function serve(
  spec: string,
  handler: RtppHandler = answer,
): Promise<{ server: RtppServer; spec: string }> {
  const server = new RtppServer({ sockets: [spec], handler });
  await server.start();
  cleanup.push(() => server.destroy());
  return { server, spec: server.addresses()[0]!.spec };
}

function client(spec: string, extra: Partial<RtppClientOptions> = {}): RtppClient {
  const c = new RtppClient({ socket: spec, timeoutMs: 2000, ...extra });
  cleanup.push(() => c.destroy());
  return c;
}

const transports = [
  ['udp', (): string => 'udp:127.0.0.1:0'],
  ['udp6', (): string => 'udp6:[::1]:0'],
  ['unix', (): string => `unix:${dir.path('u.sock')}`],
  ['cunix', (): string => `cunix:${dir.path('c.sock')}`],
  ['tcp', (): string => 'tcp:127.0.0.1:0'],
] as const;

describe.each(transports)('client ↔ server over %s', (name, specOf) => {
  it('round-trips V, VF, U, D, I, G and bad commands', async () => {
    const { spec } = await serve(specOf());
    const c = client(spec);
    expect(await c.send('V')).toEqual({ kind: 'value', value: '20040107' });
    expect(await c.send('VF 20050322')).toEqual({ kind: 'value', value: '1' });
    expect(await c.send('Uc0 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1')).toMatchObject({
      kind: 'port',
      port: 35000,
      address: '127.0.0.1',
    });
    expect(await c.send('D gone f')).toEqual({ kind: 'error', code: 50 });
    const info = await c.send('I');
    expect(info.kind === 'info' && info.entries.length).toBe(5);
    expect(await c.send('G')).toEqual({ kind: 'list', values: [], subResults: [] });
    expect(await c.send('G a b')).toEqual({ kind: 'list', values: ['7', '7'], subResults: [] });
    expect(await c.send('Z')).toEqual({ kind: 'error', code: 0 });
    expect(await c.send('D x')).toEqual({ kind: 'error', code: 1 });
    // commands after a multi-line reply still line up
    expect(await c.sendRaw('V')).toBe('20040107');
  });

  it('runs many commands at once', async () => {
    const { spec } = await serve(specOf());
    const c = client(spec);
    const rs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => c.send(i % 2 ? `D gone f${i}` : `D c${i} f`)),
    );
    rs.forEach((r, i) => {
      expect(r).toEqual(i % 2 ? { kind: 'error', code: 50 } : { kind: 'value', value: '0' });
    });
    if (name !== 'unix') expect(c.stats().sent).toBe(40);
  });

  it('probe() reports the capabilities', async () => {
    const { spec } = await serve(specOf());
    const c = client(spec);
    const p = await c.probe();
    expect(p.version).toBe('20040107');
    expect([...p.features].filter(([, v]) => v).map(([d]) => d)).toEqual(['20050322']);
  });
});

describe('UDP local address', () => {
  it('sends from localAddress (rtp_cluster cmd_out_address)', async () => {
    const peers: string[] = [];
    const { spec } = await serve('udp:127.0.0.1:0', (c, ctx) => {
      peers.push(ctx.peer?.address ?? '');
      return answer(c);
    });
    expect(await client(spec, { localAddress: '127.0.0.3' }).sendRaw('V')).toBe('20040107');
    expect(await client(spec).sendRaw('V')).toBe('20040107');
    expect(peers).toEqual(['127.0.0.3', '127.0.0.1']);
  });
});

describe('UDP retransmits against a real server', () => {
  it('a lost reply is recovered from the server cache; the handler runs once', async () => {
    let calls = 0;
    const { server, spec } = await serve('udp:127.0.0.1:0', (c) => {
      calls++;
      return answer(c);
    });
    const serverPort = server.addresses()[0]!.port!;
    // a relay between client and server that loses the first reply
    const relay = createSocket('udp4');
    cleanup.push(() => relay.close());
    let clientAddr: RemoteInfo | undefined;
    let repliesSeen = 0;
    relay.on('message', (m, r) => {
      if (r.port === serverPort) {
        repliesSeen++;
        if (repliesSeen === 1) return; // lost
        relay.send(m, clientAddr!.port, clientAddr!.address);
      } else {
        clientAddr = r;
        relay.send(m, serverPort, '127.0.0.1');
      }
    });
    await new Promise<void>((r) => relay.bind(0, '127.0.0.1', r));
    expect(spec).toBe(`udp:127.0.0.1:${serverPort}`);
    const c = client(`udp:127.0.0.1:${relay.address().port}`, { initialRttMs: 5, minRetryMs: 20 });
    expect(await c.send('U c1 127.0.0.1 4000 ft;1')).toMatchObject({ kind: 'port', port: 35000 });
    expect(calls).toBe(1);
    expect(server.stats().duplicates).toBeGreaterThanOrEqual(1);
    expect(c.stats().retransmits).toBeGreaterThanOrEqual(1);
  });

  it('an oversize command gets no reply: the client times out with its attempt count', async () => {
    const { server, spec } = await serve('udp:127.0.0.1:0');
    const c = client(spec, { timeoutMs: 300, initialRttMs: 20, minRetryMs: 50 });
    const err = await c.sendRaw(`D ${'x'.repeat(8180)} f`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RtppTimeoutError);
    expect((err as RtppTimeoutError).attempts).toBeGreaterThanOrEqual(2);
    // the server has read every earlier datagram once it answers a later one
    expect(await c.send('V')).toEqual({ kind: 'value', value: '20040107' });
    expect(server.stats().oversize).toBe((err as RtppTimeoutError).attempts);
  });

  it('a server that is not there: RtppTimeoutError inside the budget', async () => {
    const probe = createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
    const port = probe.address().port;
    probe.close(); // nobody listens there now
    const c = client(`udp:127.0.0.1:${port}`, { timeoutMs: 200, initialRttMs: 10 });
    const started = performance.now();
    const err = await c.send('V').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RtppTimeoutError);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe.each([
  ['cunix', (): string => `cunix:${dir.path('c.sock')}`],
  ['tcp', (): string => 'tcp:127.0.0.1:0'],
] as const)('%s reconnects', (_name, specOf) => {
  it('commands in flight fail when the connection breaks; the next one reconnects', async () => {
    let hold: () => void = () => {};
    const first = await serve(specOf(), (c: RtppCommand): RtppReply | Promise<RtppReply> => {
      if (c.kind === 'X') {
        return new Promise<RtppReply>((resolve) => {
          hold = () => resolve({ kind: 'value', value: '0' });
        });
      }
      return answer(c);
    });
    const spec = first.spec;
    const c = client(spec, { reconnect: { initialMs: 10, maxMs: 50 } });
    expect(await c.send('V')).toEqual({ kind: 'value', value: '20040107' });
    const pending = c.send('X').catch((e: unknown) => e);
    await until(() => first.server.stats().inFlight > 0, {
      what: 'X to reach the server',
      intervalMs: 1,
    });
    first.server.destroy();
    expect(await withTimeout(pending, 2000, 'in-flight failure')).toBeInstanceOf(RtppSocketError);
    hold();
    // nobody listening: the command fails fast with a socket error, not a hang
    expect(await c.send('V').catch((e: unknown) => e)).toBeInstanceOf(RtppSocketError);
    await serve(spec);
    const reply = await until(() => c.send('V'), { what: 'V answered after the reconnect' });
    expect(reply).toEqual({ kind: 'value', value: '20040107' });
    expect(c.stats()).toMatchObject({ connects: 2, disconnects: 1 });
  });
});

describe('stream timeouts', () => {
  it('tcp: a command with no reply times out, the connection is replaced, later commands line up', async () => {
    const { spec } = await serve('tcp:127.0.0.1:0', (c) =>
      c.kind === 'X' ? new Promise<RtppReply>(() => {}) : answer(c),
    );
    const c = client(spec, { timeoutMs: 150 });
    const slow = c.send('X').catch((e: unknown) => e);
    const alsoWritten = c.send('V').catch((e: unknown) => e);
    const err = await slow;
    expect(err).toBeInstanceOf(RtppTimeoutError);
    expect((err as RtppTimeoutError).attempts).toBe(1);
    // V was written after X on the same connection: its reply order is lost with it
    expect(await alsoWritten).toBeInstanceOf(RtppSocketError);
    expect(await c.send('VF 20050322')).toEqual({ kind: 'value', value: '1' });
    expect(c.stats()).toMatchObject({ connects: 2, timeouts: 1 });
  });

  it('unix: a command with no reply times out and its connection is closed', async () => {
    const { server, spec } = await serve(`unix:${dir.path('t.sock')}`, (c) =>
      c.kind === 'X' ? new Promise<RtppReply>(() => {}) : answer(c),
    );
    const c = client(spec, { timeoutMs: 150 });
    expect(await c.send('X').catch((e: unknown) => e)).toBeInstanceOf(RtppTimeoutError);
    expect(await c.send('V')).toEqual({ kind: 'value', value: '20040107' });
    expect(server.stats().connections).toBe(2);
  });
});

describe('stream reconnect back-off (virtual clock, real sockets)', () => {
  it('waits 100 ms, then 200 ms, … between failed connects; a success resets it', async () => {
    const clock = new VirtualClock();
    const path = dir.path('b.sock');
    const c = client(`cunix:${path}`, { clock, timeoutMs: 60_000 });
    // nobody listens: the connect fails at once, the command with it
    expect(await c.send('V').catch((e: unknown) => e)).toBeInstanceOf(RtppSocketError);
    expect(clock.dueTimes).toEqual([100]); // the back-off timer
    // a command sent now waits for the back-off; when it ends, the connect fails again
    const second = c.send('V').catch((e: unknown) => e);
    clock.advance(100);
    expect(await second).toBeInstanceOf(RtppSocketError);
    expect(clock.dueTimes).toEqual([300]); // doubled: 200 ms from t=100
    // the server comes up; the waiting command connects when the back-off ends
    const { server } = await serve(`cunix:${path}`);
    const third = c.send('V');
    expect(c.stats().connects).toBe(0);
    expect(clock.dueTimes).toContain(300); // still waiting for the back-off
    clock.advance(200);
    expect(await third).toEqual({ kind: 'value', value: '20040107' });
    expect(c.stats().connects).toBe(1);
    // after a success, a broken connection is re-opened at once (no back-off)
    server.destroy();
    const { server: again } = await serve(`cunix:${path}`);
    const reply = await until(() => c.send('V'), { what: 'V answered on the new connection' });
    expect(reply).toEqual({ kind: 'value', value: '20040107' });
    expect(again.stats().connections).toBe(1);
  });
});
