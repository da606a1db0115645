/**
 * Three cluster-node processes whose BIN links all go through BinLinkProxy: the cluster comes
 * up; a partition isolates one node and heals; sharing tags end with one active owner after a
 * partition in which both sides activated the tag (clusterer MI only, no registrar needed).
 */
import { until } from '@sipedge/test-utils';
import { describe, expect, it, onTestFailed } from 'vitest';
import { startCluster } from '../src/index.js';
import { tagStates } from '../src/shtags.js';

const show = (m: Map<number, string>) => [...m].map(([id, s]) => `${id}:${s}`).join(' ');

describe('three nodes through BIN link proxies', () => {
  it('links every node up, detects an isolated node down and brings it back on heal', async () => {
    await using cluster = await startCluster({ nodes: 3 });
    onTestFailed(() => console.log(cluster.logs()));
    for (const l of cluster.links.values()) expect(l.counters.forwarded).toBeGreaterThan(0);

    cluster.partition([3], [1, 2]);
    await cluster.waitLinkState(1, [3], 'Down');
    await cluster.waitLinkState(2, [3], 'Down');
    await cluster.waitLinkState(3, [1, 2], 'Down');
    // 1 and 2 still see each other
    await cluster.waitLinked([1, 2]);
    expect(cluster.link(1, 3).counters.dropped).toBeGreaterThan(0);

    cluster.heal();
    await cluster.waitLinked([1, 2, 3]);
  }, 90_000);

  it('a sharing tag activated on both sides of a partition has exactly one active owner after healing', async () => {
    await using cluster = await startCluster({ nodes: 3 });
    onTestFailed(() => console.log(cluster.logs()));
    const tag = 'vip/1';
    await cluster.node(1).call('clusterer_shtag_set_active', { tag });
    await until(
      async () => {
        const s = await tagStates(cluster, tag);
        return (s.get(1) === 'active' && s.get(2) === 'backup' && s.get(3) === 'backup') || show(s);
      },
      { what: 'nodes 2 and 3 to hold the tag as backup' },
    );

    cluster.partition([3], [1, 2]);
    await cluster.waitLinkState(3, [1, 2], 'Down');
    await cluster.waitLinkState(1, [3], 'Down');
    await cluster.node(3).call('clusterer_shtag_set_active', { tag });
    const split = await tagStates(cluster, tag);
    // both sides own it while they cannot hear each other
    expect(show(split)).toBe('1:active 2:backup 3:active');

    cluster.heal();
    await cluster.waitLinked([1, 2, 3]);
    await until(
      async () => {
        const s = await tagStates(cluster, tag);
        return [...s.values()].filter((v) => v === 'active').length === 1 || show(s);
      },
      { what: 'exactly one active owner', timeoutMs: 15_000 },
    );
    // and it stays that way: every node agrees on the owner a few pings later
    const owner = [...(await tagStates(cluster, tag))].find(([, v]) => v === 'active')?.[0];
    await cluster.waitLinked([1, 2, 3]);
    const after = await tagStates(cluster, tag);
    expect([...after].filter(([, v]) => v === 'active').map(([id]) => id)).toEqual([owner]);
  }, 90_000);

  it('delayed links stay up when the delay is below the ping timeout', async () => {
    await using cluster = await startCluster({ nodes: 2, clusterer: { ping_timeout: 1000 } });
    onTestFailed(() => console.log(cluster.logs()));
    cluster.link(1, 2).delay(200);
    cluster.link(2, 1).delay(200);
    await until(() => cluster.link(1, 2).counters.delayed > 3, { what: 'delayed packets' });
    await cluster.waitLinked([1, 2]);
    cluster.link(1, 2).cut();
    // the cut connection is reopened by the sender and the link stays (or comes back) up
    await until(() => cluster.link(1, 2).counters.connections >= 2, {
      what: 'a new connection through the proxy',
    });
    await cluster.waitLinked([1, 2]);
  }, 60_000);
});
