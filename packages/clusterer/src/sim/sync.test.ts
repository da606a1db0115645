import { VIRTUAL_TIME_TIMEOUT_MS } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { decodeHeader } from '../bin/packet.js';
import type { Clusterer } from '../clusterer.js';
import { CapStatus } from '../sync/capability.js';
import {
  hostOf,
  KvCapability,
  SimCluster,
  type SimClusterOptions,
  Topologies,
  withSeed,
} from './index.js';

const timers = { pingInterval: 1, pingTimeout: 300, nodeTimeout: 5 };
const syncOpts = {
  seedFallbackInterval: 2,
  syncTimeout: 3,
  syncPacketSize: 2048,
  antiEntropyInterval: 2,
};

type KvOptions = NonNullable<ConstructorParameters<typeof KvCapability>[2]>;

function kvCluster(
  n: number,
  seed: number,
  edges: [number, number][] = Topologies.fullMesh(n),
  kvOpts: KvOptions | ((id: number) => KvOptions) = {},
  sync: Partial<typeof syncOpts> = {},
  nodeOptions?: SimClusterOptions['nodeOptions'],
): { sim: SimCluster; kv: Map<number, KvCapability> } {
  const kv = new Map<number, KvCapability>();
  const sim = new SimCluster({
    nodes: n,
    edges,
    seed,
    delay: 2,
    jitter: 2,
    node: { ...timers, sync: { ...syncOpts, ...sync } },
    ...(nodeOptions === undefined ? {} : { nodeOptions }),
    setup: (node: Clusterer, id: number) =>
      kv.set(
        id,
        new KvCapability(node, undefined, typeof kvOpts === 'function' ? kvOpts(id) : kvOpts),
      ),
  });
  return { sim, kv };
}

const CAP = 'sipedge-test-kv';

function allSynced(sim: SimCluster): boolean {
  for (const n of sim.nodes.values()) if (!n.isSynced(CAP)) return false;
  return true;
}

function digests(sim: SimCluster, kv: Map<number, KvCapability>): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const id of sim.nodes.keys()) {
    const d = kv.get(id)?.digest() ?? 'none';
    m.set(d, [...(m.get(d) ?? []), id]);
  }
  return m;
}

/** Cut every link between {1, 2} and {3, 4} of a four-node full mesh. */
function splitInHalves(sim: SimCluster): void {
  for (const a of [1, 2]) for (const b of [3, 4]) sim.cutEdge(a, b);
}

/** Random writes on synced nodes for `ms` of virtual time. */
function writeFor(sim: SimCluster, kv: Map<number, KvCapability>, ms: number, tag: string): void {
  const end = sim.clock.now() + ms;
  let i = 0;
  while (sim.clock.now() < end && i < 100_000) {
    const ids = [...sim.nodes.keys()].filter((id) => sim.node(id).isSynced(CAP));
    if (ids.length > 0) {
      const id = ids[sim.random.int(0, ids.length - 1)] as number;
      kv.get(id)?.put(`${tag}-${sim.random.int(0, 200)}`, `${tag}${i}`);
    }
    i++;
    sim.clock.advance(sim.random.int(1, 25));
  }
}

describe('capability sync in the simulator', { timeout: VIRTUAL_TIME_TIMEOUT_MS }, () => {
  it('the seed falls back after seed_fallback_interval; the others sync from it', () => {
    withSeed(21, (seed) => {
      const { sim, kv } = kvCluster(4, seed);
      const states: string[] = [];
      sim.node(2).onCapStatus((e) => states.push(`${e.status}:${e.report}`));
      sim.clock.advance(1000);
      expect(sim.node(1).capabilityStatus(CAP)?.status).toBe(CapStatus.PENDING);
      expect(sim.node(2).isSynced(CAP)).toBe(false);
      expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThan(0);
      expect(sim.node(1).capabilityStatus(CAP)?.report).toBe(
        'ERROR: Sync request aborted! (no donor found in due time) => fallback to synced state',
      );
      expect(states.some((s) => s.startsWith('-1:Sync started from node'))).toBe(true);
      expect(states.at(-1)).toMatch(/^1:Sync completed/);
      writeFor(sim, kv, 3000, 'a');
      sim.clock.advance(2000);
      expect(digests(sim, kv).size).toBe(1);
      expect(kv.get(1)?.data.size).toBeGreaterThan(50);
      expect(sim.node(3).syncedNodes(CAP)).toEqual({ nodes: [1, 2, 3, 4], index: 2 });
    });
  });

  it('a non-seed node never falls back: it stays pending without a donor', () => {
    withSeed(22, (seed) => {
      const { sim } = kvCluster(3, seed);
      sim.crash(1);
      sim.clock.advance(30_000);
      for (const id of [2, 3]) {
        expect(sim.node(id).capabilityStatus(CAP)?.status).toBe(CapStatus.PENDING);
        expect(sim.node(id).syncedNodes(CAP).index).toBe(-1);
      }
    });
  });

  it('joins and restarts during random writes end with one dataset on every node', () => {
    for (const s of [31, 32, 33]) {
      withSeed(s, (seed) => {
        const { sim, kv } = kvCluster(5, seed, Topologies.ring(5), {
          mode: 'merge',
          resyncOnNodeUp: true,
        });
        sim.crash(4);
        sim.crash(5);
        expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThan(0);
        kv.get(1)?.load(3000);
        writeFor(sim, kv, 1000, 'x');
        sim.restart(4, 0);
        writeFor(sim, kv, 2000, 'y');
        sim.restart(5, 0);
        sim.restart(2);
        writeFor(sim, kv, 4000, 'z');
        expect(sim.clock.runUntil(() => allSynced(sim), 60_000)).toBeGreaterThanOrEqual(0);
        // writes whose forwarder crashed are repaired by anti-entropy
        expect(
          sim.clock.runUntil(() => digests(sim, kv).size === 1, 30_000),
        ).toBeGreaterThanOrEqual(0);
        expect(allSynced(sim)).toBe(true);
        expect(kv.get(4)?.data.size).toBeGreaterThanOrEqual(3000);
      });
    }
  });

  it('a donor crashing mid-sync: the joiner retries from another donor and ends complete', () => {
    withSeed(41, (seed) => {
      const { sim, kv } = kvCluster(4, seed);
      sim.crash(4);
      expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThan(0);
      kv.get(1)?.load(20_000);
      sim.clock.advance(100);
      // let 2 and 3 resync the big dataset so they can be donors too
      sim.node(2).requestSync(CAP, 1);
      sim.node(3).requestSync(CAP, 1);
      expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThanOrEqual(0);
      const reports: string[] = [];
      let crashed = false;
      sim.restart(4, 0);
      sim.clock.advance(1);
      sim.node(4).onCapStatus((e) => {
        reports.push(e.report);
        const donor = /Sync started from node \[(\d+)\]/.exec(e.report)?.[1];
        if (donor !== undefined && !crashed) {
          crashed = true;
          sim.clock.setTimeout(() => sim.crash(Number(donor)), 0);
        }
      });
      expect(sim.clock.runUntil(() => sim.node(4).isSynced(CAP), 30_000)).toBeGreaterThan(0);
      expect(crashed).toBe(true);
      expect(reports.some((r) => /Donor node \[\d\] became unreachable|timed out/.test(r))).toBe(
        true,
      );
      expect(kv.get(4)?.data.size).toBe(20_000);
      expect(new Set([...sim.nodes.keys()].map((id) => kv.get(id)?.digest())).size).toBe(1);
    });
  });

  it('a seed whose donor vanished mid-sync never falls back to synced with partial data', () => {
    for (const s of [61, 62, 63]) {
      withSeed(s, (seed) => {
        const { sim, kv } = kvCluster(2, seed);
        expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThan(0);
        kv.get(2)?.load(20_000);
        // the seed restarts empty: node 2 is its only donor
        sim.restart(1, 0);
        sim.clock.advance(1);
        const reports: string[] = [];
        let cut = false;
        sim.node(1).onCapStatus((e) => {
          reports.push(`${e.status}:${e.report}`);
          if (!cut && e.report.startsWith('Sync started from node [2]')) {
            cut = true;
            sim.clock.setTimeout(() => sim.cutEdge(1, 2), 0);
          }
        });
        expect(sim.clock.runUntil(() => cut, 20_000)).toBeGreaterThan(0);
        // far beyond seed_fallback_interval (2 s): no donor, but the sync broke part way
        sim.clock.advance(15_000);
        const partial = kv.get(1)?.data.size ?? 0;
        expect(partial).toBeLessThan(20_000);
        expect(sim.node(1).isSynced(CAP)).toBe(false);
        expect(reports.some((r) => r.includes('falling back'))).toBe(false);
        expect(reports.some((r) => r.startsWith('1:'))).toBe(false);
        // the same donor comes back: a full, digest-checked sync, then synced
        sim.healEdge(1, 2);
        expect(sim.clock.runUntil(() => sim.node(1).isSynced(CAP), 30_000)).toBeGreaterThan(0);
        expect(kv.get(1)?.data.size).toBe(20_000);
        expect(kv.get(1)?.digest()).toBe(kv.get(2)?.digest());
        expect(reports.at(-1)).toMatch(/^1:Sync completed/);
      });
    }
  });

  it('retries after a broken sync back off instead of spinning on the only donor', () => {
    withSeed(71, (seed) => {
      const { sim, kv } = kvCluster(2, seed);
      expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThan(0);
      kv.get(2)?.load(100);
      sim.restart(1, 0);
      sim.clock.advance(1);
      let requests = 0;
      let syncs = 0;
      sim.node(1).onCapStatus((e) => {
        if (e.report.startsWith('Sync requested')) requests++;
        if (e.report.startsWith('Sync started')) syncs++;
      });
      // a module that throws on every chunk makes every attempt fail
      const k1 = kv.get(1) as KvCapability;
      const realApply = k1.apply.bind(k1);
      k1.apply = () => {
        throw new RangeError('refused');
      };
      sim.clock.advance(5_000);
      // backoff 500 ms doubling to 10 s: a handful of attempts in 5 s, not thousands
      expect(requests).toBeGreaterThan(1);
      expect(requests).toBeLessThan(10);
      expect(sim.node(1).isSynced(CAP)).toBe(false);
      k1.apply = realApply;
      expect(sim.clock.runUntil(() => sim.node(1).isSynced(CAP), 30_000)).toBeGreaterThan(0);
      expect(k1.digest()).toBe(kv.get(2)?.digest());
      expect(syncs).toBeGreaterThan(1);
    });
  });

  it('partitions with writes on both sides heal into one dataset (merge resync on NODE_UP)', () => {
    for (const s of [51, 52]) {
      withSeed(s, (seed) => {
        const { sim, kv } = kvCluster(4, seed, Topologies.fullMesh(4), {
          mode: 'merge',
          resyncOnNodeUp: true,
        });
        expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThan(0);
        writeFor(sim, kv, 1000, 'p');
        splitInHalves(sim);
        writeFor(sim, kv, 5000, 'q');
        for (const [a, b] of Topologies.fullMesh(4)) sim.healEdge(a, b);
        writeFor(sim, kv, 8000, 'r');
        expect(sim.clock.runUntil(() => allSynced(sim), 30_000)).toBeGreaterThanOrEqual(0);
        expect(
          sim.clock.runUntil(() => digests(sim, kv).size === 1, 30_000),
        ).toBeGreaterThanOrEqual(0);
        expect([...digests(sim, kv).values()]).toEqual([[1, 2, 3, 4]]);
      });
    }
  });

  it('resyncOnNodeUp merges a healed partition without anti-entropy, and only from synced nodes', () => {
    withSeed(61, (seed) => {
      for (const resyncOnNodeUp of [true, false]) {
        const { sim, kv } = kvCluster(
          4,
          seed,
          Topologies.fullMesh(4),
          { mode: 'merge', resyncOnNodeUp },
          { antiEntropyInterval: 0 },
        );
        expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThan(0);
        splitInHalves(sim);
        sim.clock.advance(8000); // both halves see the other down
        kv.get(1)?.put('left', 'l');
        kv.get(3)?.put('right', 'r');
        for (const [a, b] of Topologies.fullMesh(4)) sim.healEdge(a, b);
        const healed = sim.clock.runUntil(() => digests(sim, kv).size === 1, 20_000);
        const resyncs = [...sim.nodes.values()].reduce(
          (n, x) => n + (x.counters.get('resyncs_on_node_up') ?? 0),
          0,
        );
        if (resyncOnNodeUp) {
          expect(healed).toBeGreaterThanOrEqual(0);
          expect(kv.get(2)?.data.has('right')).toBe(true);
          expect(kv.get(4)?.data.has('left')).toBe(true);
          expect(resyncs).toBeGreaterThan(0);
        } else {
          expect(healed).toBe(-1); // nothing else repairs it with anti-entropy off
          expect(resyncs).toBe(0);
        }
      }
    });
  });

  it('sync data of a version the receiver cannot read is refused, and its donor avoided', () => {
    withSeed(65, (seed) => {
      // node 2 writes its data in layout version 2; nodes 1 and 2 read both, node 3 only 1
      const { sim, kv } = kvCluster(3, seed, undefined, (id) => ({
        ...(id === 2 ? { dataVersion: 2 } : {}),
        readsDataVersions: id === 3 ? [1] : [1, 2],
      }));
      sim.crash(3);
      expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThan(0);
      for (let i = 0; i < 30; i++) kv.get(1)?.put(`k${i}`, `v${i}`);
      sim.clock.advance(500);
      expect(kv.get(2)?.data.size).toBe(30);
      sim.crash(1);
      sim.restart(3, 0);
      sim.clock.advance(8000);
      // node 2, the only donor, sends version 2: refused once, then not asked again
      const n3 = sim.node(3);
      expect(n3.counters.get('sync_bad_data_version')).toBe(1);
      expect(n3.isSynced(CAP)).toBe(false);
      expect(n3.capabilityStatus(CAP)?.report).toMatch(/no donor available/);
      // a donor it can read comes back: synced from it, and node 2 is a donor again after
      sim.restart(1, 0);
      expect(
        sim.clock.runUntil(() => sim.nodes.get(3)?.isSynced(CAP) === true, 20_000),
      ).toBeGreaterThan(0);
      expect(kv.get(3)?.data.size).toBe(30);
      expect(n3.counters.get('sync_bad_data_version')).toBe(1);
    });
  });

  it('a node without the sipedge mark (OpenSIPS) is sent no sipedge-only packet', () => {
    withSeed(64, (seed) => {
      const { sim, kv } = kvCluster(
        3,
        seed,
        undefined,
        { mode: 'merge', resyncOnNodeUp: true },
        { antiEntropyInterval: 1 },
        (id) => (id === 3 ? { sipedgeMark: false } : {}),
      );
      const sipedgeOnly = new Map<string, number>();
      sim.net.onDeliver = (_from, to, b) => {
        if (decodeHeader(b).capability === 'sipedge-sync')
          sipedgeOnly.set(to, (sipedgeOnly.get(to) ?? 0) + 1);
      };
      expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThan(0);
      kv.get(1)?.load(50);
      kv.get(3)?.load(20, 'o');
      sim.restart(2, 1000);
      expect(
        sim.clock.runUntil(() => sim.nodes.get(2)?.isSynced(CAP) === true, 20_000),
      ).toBeGreaterThan(0);
      sim.clock.advance(5000);
      // node 3 synced from a sipedge donor (no stream start, no digest for it) and is compared
      // with nobody; the sipedge nodes kept talking sipedge-sync between themselves
      expect(sipedgeOnly.get(hostOf(3)) ?? 0).toBe(0);
      expect(sipedgeOnly.get(hostOf(1)) ?? 0).toBeGreaterThan(0);
      expect(sipedgeOnly.get(hostOf(2)) ?? 0).toBeGreaterThan(0);
      expect(kv.get(2)?.data.has('k49')).toBe(true);
    });
  });

  it('a joining node is not asked back for the data it is being sent (resyncOnNodeUp)', () => {
    withSeed(62, (seed) => {
      const { sim, kv } = kvCluster(
        3,
        seed,
        Topologies.fullMesh(3),
        { mode: 'merge', resyncOnNodeUp: true },
        { antiEntropyInterval: 0 },
      );
      sim.crash(3);
      expect(sim.clock.runUntil(() => allSynced(sim), 20_000)).toBeGreaterThan(0);
      kv.get(1)?.load(2000);
      sim.clock.advance(500);
      const requested = (): number =>
        [1, 2].reduce((n, id) => n + (sim.node(id).counters.get('sync_requests_sent') ?? 0), 0);
      const before = requested();
      sim.restart(3, 0);
      expect(
        sim.clock.runUntil(() => sim.nodes.get(3)?.isSynced(CAP) === true, 20_000),
      ).toBeGreaterThan(0);
      expect(kv.get(3)?.data.size).toBe(2000);
      sim.clock.advance(10_000);
      // 1 and 2 were synced: nobody pulled the 2,000 records back from the joiner
      expect(requested()).toBe(before);
      expect(sim.node(3).counters.get('syncs_served') ?? 0).toBe(0);
    });
  });
});
