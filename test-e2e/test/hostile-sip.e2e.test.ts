/**
 * Hostile SIP traffic against a real three-node cluster, each attack bounded: idle
 * connections, a drip-feed slow-loris, one source opening hundreds of connections, 4,160
 * connections from 65 sources against the 4,096 cap, a request flood from one source (pike),
 * malformed requests, WebSocket connections that never upgrade. Attackers are told apart by
 * their 127.x source address. Every node also listens on TLS and WSS (certificates made by the
 * test). After each attack, `expectServing`: every node still runs and answers MI, a fresh
 * client gets OPTIONS answered over UDP, TCP, WS, TLS and WSS by every node, the links are up
 * and the same node owns the service address.
 */
import dgram from 'node:dgram';
import { notYet, until } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attack, allClosed, EventSink } from '../src/hostile.js';
import {
  activeOwners,
  type Cluster,
  type E2eNode,
  expectServing,
  optionsRequest,
  SipUdpUa,
  sipOptions,
  startCluster,
} from '../src/index.js';

/** A client address no attack uses. */
const FRESH = '127.0.9.1';
const MALFORMED_SOURCE = '127.0.8.1';

let cluster: Cluster;
let n1: E2eNode;
let n2: E2eNode;
/** The node that owns the service address once the cluster settled; attacks must not move it. */
let owner = 0;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    ha: { active: 1 },
    tls: true,
    logLevel: 'info',
    configure: (c, id) => {
      c.sip.listeners.push({ proto: 'ws', address: '127.0.0.1:0' });
      Object.assign(c.sip, {
        nat_ping: { enabled: false },
        // node 2 shows the idle lifetime; the others keep connections long enough to fill up
        tcp_connection_lifetime: id === 2 ? 2 : 60,
        tcp_msg_read_timeout: 1,
        ws_handshake_timeout: 1000,
        pike: {
          enabled: true,
          sampling_time_unit: 1,
          reqs_density_per_unit: 200,
          remove_latency: 2,
          trusted: [MALFORMED_SOURCE],
        },
      });
    },
  });
  n1 = cluster.node(1);
  n2 = cluster.node(2);
  await until(
    async () => {
      const owners = await activeOwners(cluster);
      owner = owners[0] ?? 0;
      return owners.length === 1 || notYet(`owners: ${owners.join(',')}`);
    },
    { what: 'one node to own the service address', timeoutMs: 20_000 },
  );
}, 60_000);

afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
});

async function stats(node: E2eNode): Promise<Record<string, number>> {
  return node.call<Record<string, number>>('get_statistics', [['sip:', 'pike:']]);
}

/** What must hold after every attack. */
async function intact(after: string): Promise<void> {
  await expectServing(cluster, { after, from: FRESH, owner });
}

describe('hostile SIP traffic against a three-node cluster', () => {
  it('idle connections are closed after tcp_connection_lifetime', async () => {
    using attack = new Attack();
    const idle = await attack.connect(n2.sipTcp!, '127.0.1.1', 64);
    expect(idle).toHaveLength(64);
    await allClosed(idle, 8000);
    expect((await stats(n2))['sip:closed_idle']).toBeGreaterThanOrEqual(64);
    await intact('idle connections');
  });

  it('a drip-feed (one byte every 300 ms) is closed at the whole-message deadline', async () => {
    using attack = new Attack();
    const loris = await attack.connect(n1.sipTcp!, '127.0.1.2', 50);
    const to = n1.sipTcp!;
    const bytes = Buffer.from(optionsRequest(to, 'TCP', { host: '127.0.1.2', port: 9 }).text);
    const started = Date.now();
    const stop = attack.drip(loris, bytes, 300);
    try {
      await allClosed(loris, 5000);
    } finally {
      stop();
    }
    // a per-chunk timer of 1 s would never fire: the drip is three times faster
    expect(Date.now() - started).toBeLessThan(4000);
    expect((await stats(n1))['sip:closed_message_timeout']).toBeGreaterThanOrEqual(50);
    await intact('a drip-feed');
  });

  it('one source opening 500 connections gets its 64; others still get in', async () => {
    using attack = new Attack();
    const before = (await stats(n1))['sip:refused_connections_per_source'] ?? 0;
    await attack.connect(n1.sipTcp!, '127.0.1.3', 500);
    await until(
      async () => {
        const s = await stats(n1);
        const refused = (s['sip:refused_connections_per_source'] ?? 0) - before;
        return refused >= 436 || notYet(`refused ${refused}`);
      },
      { what: 'the per-source cap to refuse the rest', timeoutMs: 10_000 },
    );
    expect(await sipOptions('tcp', n1.sipTcp!, { from: FRESH })).toBe(200);
    await intact('connection exhaustion from one source');
  });

  it('a flood from one source is blocked, reported once, unblocked after a quiet period', async () => {
    using sink = await new EventSink().bind();
    await n1.call('event_subscribe', { event: 'E_PIKE_BLOCKED', socket: sink.socket });
    const flooder = dgram.createSocket('udp4');
    await new Promise<void>((r) => flooder.bind(0, '127.0.2.1', () => r()));
    try {
      const from = { host: '127.0.2.1', port: flooder.address().port };
      for (let i = 0; i < 10; i++) {
        for (let k = 0; k < 100; k++) {
          flooder.send(optionsRequest(n1.sipUdp!, 'UDP', from).text, n1.sipUdp!.port, '127.0.0.1');
        }
        await new Promise((r) => setImmediate(r));
      }
      await until(
        async () => {
          const r = await n1.call<{ IPs: string[] }>('pike_list');
          return r.IPs.includes('127.0.2.1') || notYet(`blocked: ${r.IPs.join(',')}`);
        },
        { what: 'node 1 to block the flooder', timeoutMs: 5000 },
      );
      await until(() => sink.received.length > 0, { what: 'E_PIKE_BLOCKED', timeoutMs: 5000 });
      // others are not affected; the flooder is not answered while blocked
      using other = await new SipUdpUa().bind('127.0.2.2');
      expect((await other.options(n1.sipUdp!, 2000))?.code).toBe(200);
      using again = await new SipUdpUa().bind('127.0.2.1');
      expect(await again.options(n1.sipUdp!, 300)).toBeUndefined();
      // quiet: unblocked after remove_latency (2 s)
      await until(
        async () => {
          const r = await n1.call<{ IPs: string[] }>('pike_list');
          return r.IPs.length === 0 || notYet(`still blocked: ${r.IPs.join(',')}`);
        },
        { what: 'the flooder to be unblocked', timeoutMs: 10_000 },
      );
      expect((await again.options(n1.sipUdp!, 2000))?.code).toBe(200);
      expect(sink.received).toEqual([
        { jsonrpc: '2.0', method: 'E_PIKE_BLOCKED', params: { ip: '127.0.2.1' } },
      ]);
      const s = await stats(n1);
      expect(s['pike:blocked']).toBe(1);
      expect(s['pike:dropped']).toBeGreaterThanOrEqual(700);
      const lines = n1.output().split('\n');
      expect(lines.filter((l) => l.includes('pike: source blocked')).length).toBe(1);
    } finally {
      flooder.close();
    }
    await intact('a flood');
  });

  it('1,000 malformed requests are each answered 400, counted, and logged once', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, MALFORMED_SOURCE, () => r()));
    const answers = new Map<string, number>();
    sock.on('message', (buf) => {
      const t = buf.toString('latin1');
      const id = /\r\nCall-ID: (\S+)/.exec(t)?.[1];
      const code = /^SIP\/2\.0 (\d{3})/.exec(t)?.[1];
      if (id !== undefined && code !== undefined) answers.set(id, Number(code));
    });
    const linesBefore = n1.output().split('\n').length;
    try {
      const from = { host: MALFORMED_SOURCE, port: sock.address().port };
      for (let batch = 0; batch < 10; batch++) {
        const ids: string[] = [];
        for (let k = 0; k < 100; k++) {
          const { text, callId } = optionsRequest(n1.sipUdp!, 'UDP', from, ['Route: <sip:[zz]>']);
          ids.push(callId);
          sock.send(text, n1.sipUdp!.port, '127.0.0.1');
        }
        await until(() => ids.every((id) => answers.has(id)), {
          what: `answers to batch ${batch}`,
          timeoutMs: 5000,
        });
      }
    } finally {
      sock.close();
    }
    expect(answers.size).toBe(1000);
    expect([...answers.values()].every((c) => c === 400)).toBe(true);
    expect((await stats(n1))['sip:bad_input_uri']).toBe(1000);
    const lines = n1
      .output()
      .split('\n')
      .slice(linesBefore - 1);
    expect(lines.filter((l) => l.includes('SIP bad input')).length).toBe(1);
    expect(lines.filter((l) => l.includes('SIP routing failed')).length).toBe(0);
    expect(lines.length).toBeLessThan(20);
    await intact('malformed requests');
  });

  it('WebSocket connections that never upgrade are closed at the handshake deadline', async () => {
    using attack = new Attack();
    const ws = n1.sip.get('ws')!;
    const silent = [
      ...(await attack.connect(ws, '127.0.1.7', 50)),
      ...(await attack.connect(ws, '127.0.1.8', 50)),
    ];
    const partial = await attack.connect(ws, '127.0.1.9', 10);
    for (const s of partial) s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    await allClosed([...silent, ...partial], 5000);
    expect((await stats(n1))['sip:closed_handshake_timeout']).toBeGreaterThanOrEqual(110);
    await intact('WebSocket clients that never upgrade');
  });

  it('4,160 idle connections from 65 sources do not lock a fresh client out of the 4,096 cap', async () => {
    using attack = new Attack();
    const before = await stats(n1);
    for (let s = 1; s <= 65; s++) await attack.connect(n1.sipTcp!, `127.0.3.${s}`, 64);
    await until(
      async () => {
        const c = (await stats(n1))['sip:connections'];
        return c === 4096 || notYet(`${c} connections`);
      },
      { what: 'node 1 to hold 4,096 connections', timeoutMs: 15_000 },
    );
    expect(await sipOptions('tcp', n1.sipTcp!, { from: FRESH })).toBe(200);
    const after = await stats(n1);
    const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect(delta('sip:evicted_connections')).toBeGreaterThanOrEqual(64);
    expect(delta('sip:refused_connections')).toBe(0);
    attack.closeAll();
    await intact('4,160 idle connections');
  }, 60_000);
});
