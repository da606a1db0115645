/**
 * Two nodes in-process over real BIN/TCP and SIP/UDP on loopback, sharing the service address
 * 127.0.0.77 through the sharing tag `vip/1`: the active node binds it; a REGISTER taken on the
 * service address is replicated with its Path and sharing tag; a call entering at the other
 * node reaches the UA through the service address with its media anchored once; stopping the
 * active node moves the service address (and the NAT binding's path) to the survivor.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiClient } from '@sipedge/mi';
import type { Relay } from '@sipedge/rtp-relay';
import { SdpEditor } from '@sipedge/sip';
import { peerPort, until } from '@sipedge/test-utils';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../src/config.js';
import { type ClusterNode, startNode } from '../src/node.js';
import { loopbackRelay } from './relay.js';
import { answer, sdp, TestUa } from './ua.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'cluster-node-pair-'));
const VIP_HOST = '127.0.0.77';

let relay: Relay;
let vipPort: number;
const nodes: ClusterNode[] = [];
const uas: TestUa[] = [];
const mis: MiClient[] = [];

function contactsOn(mi: MiClient, aor: string): Promise<Array<Record<string, unknown>>> {
  return mi
    .call('ul_show_contact', ['location', aor])
    .then((r) => (r as { Contacts: Array<Record<string, unknown>> }).Contacts)
    .catch(() => []);
}

beforeAll(async () => {
  relay = await loopbackRelay(42000);
  // the service address and each node's BIN url are configured on both before either starts
  vipPort = await peerPort();
  const bins = [await peerPort(), await peerPort()];
  for (const id of [1, 2]) {
    const node = await startNode(
      parseNodeConfig({
        node: { id },
        sip: {
          listeners: [{ proto: 'udp', address: '127.0.0.1:0' }],
          nat_ping: { enabled: false },
        },
        mi: { port: 0 },
        metrics: { enabled: false },
        clusterer: {
          listen: `bin:127.0.0.1:${bins[id - 1]}`,
          // in a two-node cluster the seed breaks the even split: node 2 may take over alone
          seed: id === 2,
          seed_fallback_interval: 0,
          neighbours: [{ node_id: 3 - id, url: `bin:127.0.0.1:${bins[2 - id]}` }],
          ping_interval: 1,
          ping_timeout: 300,
          node_timeout: 2,
        },
        rtp: { relays: [{ name: 'relay1', socket: relay.control[0] }], heartbeat_interval: 200 },
        ha: {
          service_address: `${VIP_HOST}:${vipPort}`,
          sharing_tag: id === 1 ? 'vip/1=active' : 'vip/1',
        },
        storage: { file: join(dir, `node${id}.sqlite`) },
        // the sharing tag of a contact shows in its KV-Store
        usrloc: { mi_dump_kv_store: true },
        logging: { level: 'silent', format: 'json' },
      }),
      { logger },
    );
    nodes.push(node);
    mis.push(new MiClient({ url: node.miUrl }));
  }
  await until(() => nodes.every((n) => n.replicator.synced), { what: 'both nodes see each other' });
  await until(() => nodes.every((n) => n.balancer?.clusters[0]?.members[0]?.state === 'online'), {
    what: 'relay online on both',
  });
});

afterAll(async () => {
  for (const u of uas) u.close();
  for (const m of mis) m.close();
  for (const n of nodes) await n.stop();
  await relay?.stop();
});

async function ua(user: string): Promise<TestUa> {
  const u = await new TestUa(user).bind();
  uas.push(u);
  return u;
}

let cseq = 1;
function registerVia(u: TestUa, host: string, port: number): void {
  u.sendTo(
    [
      `REGISTER sip:${host}:${port} SIP/2.0`,
      u.via(),
      'Max-Forwards: 70',
      `From: <sip:${u.user}@example.com>;tag=r1`,
      `To: <sip:${u.user}@example.com>`,
      `Call-ID: reg-${u.user}`,
      `CSeq: ${++cseq} REGISTER`,
      `Contact: <${u.contact}>`,
      'Expires: 600',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    host,
    port,
  );
}

describe('two nodes, one service address', () => {
  it('the active node binds the service address; the backup does not', async () => {
    await until(() => nodes[0]!.haActive, { what: 'node 1 active' });
    expect(nodes[1]!.haActive).toBe(false);
    expect(
      nodes[0]!.sip.service?.listeners.map((l) => `${l.proto}:${l.address}:${l.port}`),
    ).toEqual([`udp:${VIP_HOST}:${vipPort}`, `tcp:${VIP_HOST}:${vipPort}`]);
    expect(nodes[1]!.sip.service).toBeUndefined();
  });

  it('a REGISTER on the service address is replicated with its Path and sharing tag', async () => {
    const alice = await ua('alice');
    registerVia(alice, VIP_HOST, vipPort);
    const ok = await alice.response(200, 'REGISTER');
    expect(ok.contacts()).toHaveLength(1);
    for (const mi of mis) {
      await until(async () => (await contactsOn(mi, 'alice@example.com')).length === 1, {
        what: 'contact on every node',
      });
      const [c] = await contactsOn(mi, 'alice@example.com');
      expect(c?.Path).toBe(`<sip:${VIP_HOST}:${vipPort};lr;pt>`);
      expect(c?.['KV-Store']).toBe('{"_st":"vip/1"}');
    }
  });

  it('a call entering at node 2 reaches the UA through the service address, anchored once', async () => {
    const alice = uas.find((u) => u.user === 'alice')!;
    const bob = await ua('bob');
    const node2 = nodes[1]!.sipListeners[0]!;
    const body = sdp(bob.port + 1000);
    bob.sendTo(
      [
        'INVITE sip:alice@example.com SIP/2.0',
        bob.via(),
        'Max-Forwards: 70',
        'From: <sip:bob@example.com>;tag=fb',
        'To: <sip:alice@example.com>',
        'Call-ID: pair-call-1@test',
        'CSeq: 1 INVITE',
        `Contact: <${bob.contact}>`,
        'Content-Type: application/sdp',
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n'),
      '127.0.0.1',
      node2.port,
    );
    const inv = await alice.request('INVITE');
    expect(alice.lastSource).toEqual({ address: VIP_HOST, port: vipPort });
    const rr = inv.values('record-route');
    expect(rr).toHaveLength(2);
    expect(rr[0]).toBe(`<sip:${VIP_HOST}:${vipPort};lr>`);
    expect(rr[1]).toBe(`<sip:127.0.0.1:${node2.port};lr;ma>`);
    const offered = new SdpEditor(inv.body).media()[0]?.port ?? 0;
    expect(offered).toBeGreaterThanOrEqual(42000);
    expect(relay.engine.sessionCount).toBe(1); // one U, by the node the call entered at
    // the call-id → relay binding is replicated: node 1 would send this call's D to relay1
    await until(
      () => nodes[0]!.balancer?.clusters[0]?.callTable.lookup('pair-call-1@test') === 'relay1',
      { what: 'call table replicated to node 1' },
    );
    alice.sendTo(
      answer(inv, 200, 'OK', { toTag: 'ta', contact: alice.contact, body: sdp(alice.port + 1000) }),
      VIP_HOST,
      vipPort,
    );
    const ok = await bob.response(200, 'INVITE');
    expect(new SdpEditor(ok.body).media()[0]?.port).toBeGreaterThanOrEqual(42000);
  });

  it('stopping the active node moves the service address to the survivor, which reaches the UA', async () => {
    const alice = uas.find((u) => u.user === 'alice')!;
    const t0 = Date.now();
    await nodes[0]!.stop();
    await until(() => nodes[1]!.haActive, { what: 'node 2 active' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(nodes[1]!.sip.service?.listeners[0]).toEqual({
      proto: 'udp',
      address: VIP_HOST,
      port: vipPort,
    });
    const carl = await ua('carl');
    const node2 = nodes[1]!.sipListeners[0]!;
    carl.sendTo(
      [
        'MESSAGE sip:alice@example.com SIP/2.0',
        carl.via(),
        'Max-Forwards: 70',
        'From: <sip:carl@example.com>;tag=fc',
        'To: <sip:alice@example.com>',
        'Call-ID: pair-msg-1@test',
        'CSeq: 1 MESSAGE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      '127.0.0.1',
      node2.port,
    );
    await alice.request('MESSAGE');
    expect(alice.lastSource).toEqual({ address: VIP_HOST, port: vipPort });
  });
});
