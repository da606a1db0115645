/**
 * The registrar across the cluster: registrations taken on one node appear on every node with
 * their Path; a partition in which both sides take registrations heals into identical
 * locations and one active owner per sharing tag; a rolling restart of every node under
 * REGISTER load loses nothing that was acknowledged.
 */
import { type NotYet, notYet, until } from '@sipedge/test-utils';
import { describe, expect, it, onTestFailed } from 'vitest';
import {
  aors,
  type Cluster,
  locationDigest,
  locations,
  missing,
  SipUdpUa,
  startCluster,
  startRegisterLoad,
  usrlocSynced,
} from '../src/index.js';
import { activeOwners } from '../src/shtags.js';

/** Every running node shows the same locations, and they hold every AOR of `users`. */
async function converged(cluster: Cluster, users: Iterable<string>): Promise<true | NotYet> {
  const list = [...users];
  const digests = new Set<string>();
  for (const n of cluster.running) {
    const lost = missing(list, await aors(n));
    if (lost.length > 0)
      return notYet(`node ${n.id} misses ${lost.length} (${lost.slice(0, 3).join(',')}…)`);
    digests.add(await locationDigest(n));
  }
  return digests.size === 1 || notYet(`${digests.size} different location tables`);
}

describe('registrar across the cluster', () => {
  it('registrations taken on one node appear on every node with their Path', async () => {
    await using cluster = await startCluster({ nodes: 3 });
    onTestFailed(() => console.log(cluster.logs()));
    const n1 = cluster.node(1);
    using ua = await new SipUdpUa().bind();
    const users = Array.from({ length: 20 }, (_, i) => `path${i}`);
    for (const u of users) {
      const r = await ua.register(n1.sipUdp ?? { host: '', port: 0 }, u);
      expect(r?.code, r?.text).toBe(200);
    }
    await until(() => converged(cluster, users), {
      what: 'every node to hold the 20 registrations',
      timeoutMs: 15_000,
    });
    const port = n1.sipUdp?.port;
    for (const n of cluster.nodes) {
      const l = await locations(n);
      for (const u of users) {
        const c = l.get(u)?.[0];
        expect(c?.Contact).toBe(`sip:${u}@127.0.0.1:${ua.port}`);
        // the Path names the node that took the registration (it holds the flow)
        expect(c?.Path, `node ${n.id} ${u}`).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}\\b`));
      }
    }
  }, 90_000);

  it('a partition in which both sides register heals into identical locations and one tag owner', async () => {
    await using cluster = await startCluster({ nodes: 3, ha: { active: 1 } });
    onTestFailed(() => console.log(cluster.logs()));
    await until(async () => (await activeOwners(cluster)).length === 1, {
      what: 'one owner of vip/1',
      timeoutMs: 15_000,
    });
    using ua = await new SipUdpUa().bind();
    const before = ['pre0', 'pre1', 'pre2'];
    for (const u of before) expect((await ua.register(cluster.node(2).sipUdp!, u))?.code).toBe(200);
    await until(() => converged(cluster, before), {
      what: 'pre-partition registrations everywhere',
      timeoutMs: 15_000,
    });
    // a node cut off before its first sync answers 503 (its bindings would live there alone):
    // this partition is of a cluster past its cold start
    for (const id of [1, 2, 3]) {
      await until(() => usrlocSynced(cluster.node(id)), {
        what: `node ${id} synced`,
        timeoutMs: 15_000,
      });
    }

    cluster.partition([3], [1, 2]);
    await cluster.waitLinkState(3, [1, 2], 'Down');
    await cluster.waitLinkState(1, [3], 'Down');
    const left = ['left0', 'left1', 'left2', 'left3'];
    const right = ['right0', 'right1', 'right2', 'right3'];
    for (const u of left) expect((await ua.register(cluster.node(1).sipUdp!, u))?.code).toBe(200);
    for (const u of right) expect((await ua.register(cluster.node(3).sipUdp!, u))?.code).toBe(200);
    // an AOR changed on both sides: both contacts are kept (different Contact URIs)
    expect(
      (await ua.register(cluster.node(1).sipUdp!, 'pre0', { contact: '127.0.0.1:1111' }))?.code,
    ).toBe(200);
    expect(
      (await ua.register(cluster.node(3).sipUdp!, 'pre0', { contact: '127.0.0.1:3333' }))?.code,
    ).toBe(200);

    cluster.heal();
    await cluster.waitLinked([1, 2, 3]);
    await until(() => converged(cluster, [...before, ...left, ...right]), {
      what: 'identical locations after healing',
      timeoutMs: 30_000,
    });
    const pre0 = (await locations(cluster.node(2))).get('pre0') ?? [];
    // sorted both sides: the UA's own port (any, from port 0) may sort before or after 3333
    expect(pre0.map((c) => c.Contact).sort()).toEqual(
      [
        'sip:pre0@127.0.0.1:1111',
        'sip:pre0@127.0.0.1:3333',
        `sip:pre0@127.0.0.1:${ua.port}`,
      ].sort(),
    );
    await until(
      async () => {
        const o = await activeOwners(cluster);
        return o.length === 1 || notYet(`owners: ${o.join(',') || 'none'}`);
      },
      { what: 'exactly one owner of vip/1', timeoutMs: 15_000 },
    );
  }, 120_000);

  it('a rolling restart of every node under REGISTER load loses no acknowledged registration', async () => {
    await using cluster = await startCluster({
      nodes: 3,
      // no node configured `=active`: the cluster elects the owner (see the report on
      // restarting a node configured active while another holds the address)
      ha: {},
      // info: a failure shows node states, sharing-tag moves and syncs around each restart
      logLevel: 'info',
    });
    onTestFailed(() => console.log(cluster.logs(150)));
    const sa = cluster.serviceAddress!;
    using probe = await new SipUdpUa().bind();
    await until(async () => (await probe.options(sa)) !== undefined, {
      what: 'the service address to answer',
      timeoutMs: 15_000,
    });
    const load = await startRegisterLoad({
      dir: cluster.dir,
      target: sa,
      count: 3000,
      rate: 100,
      prefix: 'roll',
    });
    try {
      for (const id of [3, 2, 1]) {
        const seen = load.acknowledged().size;
        await until(() => load.acknowledged().size > seen + 100, {
          what: 'registrations to flow',
          timeoutMs: 20_000,
        });
        await cluster.node(id).restart();
        await cluster.waitLinked([1, 2, 3]);
        await until(() => usrlocSynced(cluster.node(id)), {
          what: `node ${id} synced`,
          timeoutMs: 30_000,
        });
      }
      const { ok, output } = await load.done(60_000);
      expect(ok.size, output.slice(-2000)).toBeGreaterThan(2000);
      await until(() => converged(cluster, ok), {
        what: 'every acknowledged registration on every node',
        timeoutMs: 30_000,
      });
    } finally {
      await load.stop();
    }
  }, 180_000);
});
