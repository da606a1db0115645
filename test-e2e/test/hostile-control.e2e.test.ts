/**
 * Hostile traffic against the management and media-control surfaces of a three-node cluster
 * with two relays, each attack bounded and from its own loopback address (any 127/8 address is
 * this host on Linux), the honest client from 127.0.0.1:
 *
 * - MI: 64 WebSocket clients plus 64 idle TCP connections from one address; a fresh MI client
 *   from another is answered.
 * - rtp control socket (tcp on node 1): 120 idle connections from one address; the real client
 *   is served.
 * - 300 U from one sender through node 2's control socket: over its cap they answer E72, and
 *   another sender still gets sessions; the same straight to a relay.
 * - X through node 2's control socket (and straight to a relay) deletes the sender's own calls
 *   only; another sender's session survives.
 *
 * Every node also serves SIP over TLS and WSS. After each, `expectServing`: a fresh client gets
 * OPTIONS answered over UDP, TCP, TLS and WSS by every node, every MI answers a fresh client,
 * the links are up with one owner of vip/1, and no process (node or relay) died.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { MiClient } from '@sipedge/mi';
import { until } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { relaysOnline } from '../src/balancer.js';
import {
  type Address,
  activeOwners,
  type Cluster,
  expectServing,
  RtppClient,
  startCluster,
} from '../src/index.js';

const ATTACKER = '127.0.0.2';
const RELAY_ATTACKER = '127.0.0.3';

let cluster: Cluster;
const held: Socket[] = [];

async function tcpFrom(address: Address, from: string): Promise<Socket> {
  const s = connect({ host: address.host, port: address.port, localAddress: from });
  s.on('error', () => {});
  await once(s, 'connect');
  held.push(s);
  return s;
}

function dropHeld(): void {
  for (const s of held.splice(0)) s.destroy();
}

/** The first line a stream socket receives (bounded). */
function firstLine(s: Socket, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const t = setTimeout(() => reject(new Error(`no line within ${ms} ms: ${text}`)), ms);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve(text.slice(0, nl).replace(/\r$/, ''));
      }
    });
  });
}

async function statistic(nodeId: number, name: string): Promise<number> {
  const r = await cluster.node(nodeId).call<Record<string, number>>('get_statistics', [[name]]);
  return r[name] ?? 0;
}

/** An rtpproxy client sending from `from`. */
function rtppFrom(socket: string, from: string): RtppClient {
  return new RtppClient({ socket, localAddress: from, timeoutMs: 3000 });
}

/** `n` new-session U commands (one call each), all in flight at once: their replies. */
async function flood(client: RtppClient, prefix: string, n: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) => client.sendRaw(`U ${prefix}${i} 127.0.0.1 7000 f${i}`)),
  );
}

/** Active sessions a relay reports (asked straight from 127.0.0.1). */
async function relaySessions(i: number): Promise<number> {
  const r = await cluster.relays[i]!.rtpp.send('Ib');
  if (r.kind !== 'info') throw new Error(`I answered ${JSON.stringify(r)}`);
  return Number(r.entries.find(([k]) => k === 'active sessions')?.[1]);
}

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    relays: 2,
    rtpControl: true,
    ha: { active: 1 },
    tls: true,
    logLevel: 'warn',
    configure: (c, id) => {
      const rtp = c.rtp!;
      // each relay holds 100 sessions: a sender may hold 40 calls through a node
      rtp.max_sessions_per_source = 40;
      if (id === 1) rtp.control_socket = 'tcp:127.0.0.1:0';
    },
  });
  await Promise.all(cluster.nodes.map((n) => relaysOnline(n)));
  await until(async () => (await activeOwners(cluster)).length === 1, {
    what: 'one owner of vip/1',
  });
}, 60_000);

afterAll(async () => {
  dropHeld();
  await cluster?.[Symbol.asyncDispose]();
});

describe('hostile traffic on MI and rtp control', () => {
  it('MI: 64 WebSocket clients and 64 idle connections from one address; another is answered', async () => {
    onTestFailed(() => console.log(cluster.logs()));
    const node = cluster.node(1);
    const mi = new URL(node.miUrl);
    const at = { host: mi.hostname, port: Number(mi.port) };
    for (let i = 0; i < 64; i++) {
      const s = await tcpFrom(at, ATTACKER);
      const status = firstLine(s);
      s.write(
        'GET /mi/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      await status.catch(() => '');
    }
    for (let i = 0; i < 64; i++) await tcpFrom(at, ATTACKER);
    const fresh = new MiClient({ url: node.miUrl, timeoutMs: 5000 });
    try {
      expect(await fresh.call('node_info')).toMatchObject({ node_id: 1 });
    } finally {
      fresh.close();
    }
    expect(await statistic(1, 'mi:ws_source_limited')).toBeGreaterThanOrEqual(48);
    expect(await statistic(1, 'mi:connections_source_limited')).toBeGreaterThanOrEqual(32);
    dropHeld();
    await expectServing(cluster, { after: 'the MI flood' });
  }, 40_000);

  it('rtp control: 120 idle tcp connections from one address; the real client is served', async () => {
    onTestFailed(() => console.log(cluster.logs()));
    const spec = cluster.node(1).rtpControl ?? '';
    const m = /^tcp:(.+):(\d+)$/.exec(spec);
    if (m === null) throw new Error(`node 1's control socket is ${spec}`);
    const at = { host: m[1]!, port: Number(m[2]) };
    for (let i = 0; i < 120; i++) await tcpFrom(at, ATTACKER);
    await until(
      async () => (await statistic(1, 'rtp_cluster:control_source_limited_connections')) >= 104,
      { what: 'all but 16 of the idle connections refused' },
    );
    const real = await tcpFrom(at, '127.0.0.1');
    const line = firstLine(real);
    real.write('V\n');
    expect(await line).toBe('20040107');
    dropHeld();
    await expectServing(cluster, { after: 'the control-socket flood' });
  }, 40_000);

  it('300 U from one sender through a node: E72 over its cap; another sender still gets sessions; its X deletes only its own', async () => {
    onTestFailed(() => console.log(cluster.logs()));
    const spec = cluster.node(2).rtpControl ?? '';
    const attacker = rtppFrom(spec, ATTACKER);
    const honest = rtppFrom(spec, '127.0.0.1');
    try {
      const replies = await flood(attacker, 'flood', 300);
      expect(replies.filter((r) => r === 'E72')).toHaveLength(260);
      expect(replies.filter((r) => /^\d+ /.test(r))).toHaveLength(40);
      expect(await statistic(2, 'rtp_cluster:source_limited')).toBe(260);
      expect(await honest.sendRaw('U honest-1 127.0.0.1 7100 hf')).toMatch(/^\d+ /);
      const before = (await relaySessions(0)) + (await relaySessions(1));
      expect(before).toBe(41);

      expect(await attacker.sendRaw('X')).toBe('0');
      expect((await relaySessions(0)) + (await relaySessions(1))).toBe(1);
      expect(await honest.sendRaw('Q honest-1 hf')).not.toMatch(/^E/);
      // the sender's slots are free again
      expect(await attacker.sendRaw('U after-x 127.0.0.1 7000 f')).toMatch(/^\d+ /);
      expect(await attacker.sendRaw('D after-x f')).toBe('0');
      expect(await honest.sendRaw('D honest-1 hf')).toBe('0');
    } finally {
      attacker.destroy();
      honest.destroy();
    }
    await expectServing(cluster, { after: '300 U and an X through node 2' });
  }, 40_000);

  it('300 U straight to a relay: it keeps port pairs for other senders; X deletes the sender’s own', async () => {
    onTestFailed(() => console.log(cluster.logs()));
    const relay = cluster.relays[0]!;
    const attacker = rtppFrom(relay.spec, RELAY_ATTACKER);
    try {
      const replies = await flood(attacker, 'direct', 300);
      // 400 ports hold 100 sessions; one sender may hold 90 of them
      expect(replies.filter((r) => /^\d+ /.test(r))).toHaveLength(90);
      expect(replies.filter((r) => r === 'E72')).toHaveLength(210);
      expect(await relay.rtpp.sendRaw('U other-1 127.0.0.1 7200 of')).toMatch(/^\d+ /);
      expect(await attacker.sendRaw('X')).toBe('0');
      expect(await relaySessions(0)).toBe(1);
      expect(await relay.rtpp.sendRaw('D other-1 of')).toBe('0');
    } finally {
      attacker.destroy();
    }
    await expectServing(cluster, { after: '300 U and an X straight to a relay' });
  }, 40_000);
});
