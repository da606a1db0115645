/**
 * Two sites of one node each, in-process, sharing presence through a real Redis Cluster: a
 * call placed at site B reaches a phone registered at site A (one federation hop, marked);
 * after the phone unregisters the call gets 404; a stale entry is cleaned by the 404 of the
 * site it names; with every Redis instance down calls within a site still work, and once Redis
 * is back the presence it lost is written again.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { presenceKey, RedisPresenceStore } from '@sipedge/federation';
import { MiClient } from '@sipedge/mi';
import {
  peerPort,
  type RedisCluster,
  redisCli,
  startRedisCluster,
  until,
} from '@sipedge/test-utils';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../src/config.js';
import { FEDERATION_HEADER } from '../src/federation-routing.js';
import { type ClusterNode, startNode } from '../src/node.js';
import { answer, sdp, TestUa } from './ua.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'cluster-node-federation-'));

let redis: RedisCluster;
let store: RedisPresenceStore;
const nodes: Record<'A' | 'B', ClusterNode> = {} as never;
const ports: Record<'A' | 'B', number> = { A: 0, B: 0 };
const uas: TestUa[] = [];
let cseq = 1;

async function ua(user: string): Promise<TestUa> {
  const u = await new TestUa(user).bind();
  uas.push(u);
  return u;
}

beforeAll(async () => {
  redis = await startRedisCluster();
  ports.A = await peerPort();
  ports.B = await peerPort();
  const sites = (['A', 'B'] as const).map((id) => ({ id, address: `127.0.0.1:${ports[id]}` }));
  for (const [i, site] of (['A', 'B'] as const).entries()) {
    nodes[site] = await startNode(
      parseNodeConfig({
        node: { id: i + 1 },
        sip: {
          listeners: [{ proto: 'udp', address: `127.0.0.1:${ports[site]}` }],
          domains: ['example.com'],
          nat_ping: { enabled: false },
        },
        mi: { port: 0 },
        metrics: { enabled: false },
        clusterer: { listen: 'bin:127.0.0.1:0', seed: true, seed_fallback_interval: 0 },
        storage: { file: join(dir, `${site}.sqlite`) },
        // presence is keyed by the AoR with its domain (`bob@example.com`)
        usrloc: { use_domain: true },
        logging: { level: 'silent', format: 'json' },
        federation: {
          site,
          sites,
          store: { nodes: redis.nodes.slice(0, 2) },
          lookup_cache: 0.2,
          negative_cache: 0.1,
          probe_interval: 0.2,
        },
      }),
      { logger },
    );
  }
  store = new RedisPresenceStore({ nodes: redis.nodes.slice(0, 1), timeoutMs: 2000 });
}, 60_000);

afterAll(async () => {
  for (const u of uas) u.close();
  await store?.close();
  await nodes.A?.stop();
  await nodes.B?.stop();
  await redis?.stop();
});

function register(u: TestUa, site: 'A' | 'B', expires = 600): void {
  u.send(
    [
      `REGISTER sip:example.com SIP/2.0`,
      u.via(),
      'Max-Forwards: 70',
      `From: <sip:${u.user}@example.com>;tag=r${u.user}`,
      `To: <sip:${u.user}@example.com>`,
      `Call-ID: reg-${u.user}-${u.port}`,
      `CSeq: ${++cseq} REGISTER`,
      `Contact: <${u.contact}>`,
      `Expires: ${expires}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    ports[site],
  );
}

function invite(from: TestUa, to: string, site: 'A' | 'B', callId: string): void {
  const body = sdp(from.port + 1000);
  from.send(
    [
      `INVITE sip:${to}@example.com SIP/2.0`,
      from.via(),
      'Max-Forwards: 70',
      `From: <sip:${from.user}@example.com>;tag=f${from.user}`,
      `To: <sip:${to}@example.com>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <${from.contact}>`,
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
    ports[site],
  );
}

/** Until the store says `aor` is at `site` (or, with `present` false, is not). */
async function stored(aor: string, site: string, present = true): Promise<void> {
  await until(
    async () => {
      const sites = await store.sites(aor, Date.now()).catch(() => undefined);
      return sites !== undefined && sites.some((s) => s.site === site) === present;
    },
    { what: `${aor} ${present ? '' : 'not '}at site ${site} in Redis`, timeoutMs: 10_000 },
  );
}

describe('federation of two sites', () => {
  it('a call placed at site B reaches the phone registered at site A, in one marked hop', async () => {
    const bob = await ua('bob');
    register(bob, 'A');
    await bob.response(200, 'REGISTER');
    await stored('bob@example.com', 'A');
    const alice = await ua('alice');
    invite(alice, 'bob', 'B', 'fed-call-1');
    const inv = await bob.request('INVITE');
    expect(inv.header(FEDERATION_HEADER)).toBe('B');
    expect(bob.lastSource?.port).toBe(ports.A);
    bob.send(answer(inv, 200, 'OK', { toTag: 'tb', contact: bob.contact }), ports.A);
    const ok = await alice.response(200, 'INVITE');
    expect(ok.callId()).toBe('fed-call-1');
    // the call went B → A: both nodes record-routed it
    expect(ok.values('record-route')).toHaveLength(2);
  });

  it('after the phone unregisters at A, a call from B gets 404', async () => {
    const carl = await ua('carl');
    register(carl, 'A');
    await carl.response(200, 'REGISTER');
    await stored('carl@example.com', 'A');
    register(carl, 'A', 0);
    await carl.response(200, 'REGISTER');
    await stored('carl@example.com', 'A', false);
    const alice = await ua('alice2');
    const t0 = Date.now();
    invite(alice, 'carl', 'B', 'fed-call-2');
    await alice.response(404, 'INVITE');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("a stale entry naming site A is removed by A's 404", async () => {
    await store.write([{ aor: 'ghost@example.com', site: 'A', expires: Date.now() + 600_000 }]);
    const alice = await ua('alice3');
    invite(alice, 'ghost', 'B', 'fed-call-3');
    await alice.response(404, 'INVITE');
    await stored('ghost@example.com', 'A', false);
    expect(nodes.B.federation?.status().entries_cleaned).toBeGreaterThanOrEqual(1);
  });

  it('with Redis down calls within a site work; once back, the presence it lost returns', async () => {
    const mi = new MiClient({ url: nodes.A.miUrl });
    try {
      const dora = await ua('dora');
      register(dora, 'A');
      await dora.response(200, 'REGISTER');
      await stored('dora@example.com', 'A');
      for (const port of redis.ports) await redis.kill(port);
      await until(
        async () => ((await mi.call('ul_federation_status', {})) as { degraded: boolean }).degraded,
        {
          what: 'site A to say the federation is degraded',
        },
      );
      // within site A, a call to dora still completes
      const erin = await ua('erin');
      invite(erin, 'dora', 'A', 'fed-call-4');
      const inv = await dora.request('INVITE');
      dora.send(answer(inv, 200, 'OK', { toTag: 'td', contact: dora.contact }), ports.A);
      await erin.response(200, 'INVITE');
      // Redis comes back empty (no persistence): A writes dora again
      for (const port of redis.ports) await redis.restart(port);
      await redis.waitOk(30_000);
      expect(await redisCli(redis.ports[0]!, 'cluster', 'info')).toContain('cluster_state:ok');
      await stored('dora@example.com', 'A');
      expect(
        await redisCli(
          await redis.masterOf(presenceKey('dora@example.com')),
          'exists',
          presenceKey('dora@example.com'),
        ),
      ).toBe('1');
      expect(((await mi.call('ul_federation_status', {})) as { degraded: boolean }).degraded).toBe(
        false,
      );
    } finally {
      mi.close();
    }
  }, 60_000);
});
