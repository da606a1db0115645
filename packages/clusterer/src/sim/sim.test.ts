import { VIRTUAL_TIME_TIMEOUT_MS } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { LinkState } from '../nodes/remote-node.js';
import { SimCluster, Topologies, withSeed } from './index.js';

const timers = { pingInterval: 1, pingTimeout: 300, nodeTimeout: 5 };

describe('simulator: convergence on fixed topologies', { timeout: VIRTUAL_TIME_TIMEOUT_MS }, () => {
  const shapes: [string, (n: number) => [number, number][], number][] = [
    ['full mesh', Topologies.fullMesh, 8],
    ['line', Topologies.line, 8],
    ['ring', Topologies.ring, 10],
    ['star', Topologies.star, 10],
    ['two sites', Topologies.twoSite, 12],
    ['32-node ring', Topologies.ring, 32],
  ];
  for (const [name, make, n] of shapes) {
    it(`${name} of ${n} nodes converges with shortest-path next hops`, () => {
      withSeed(11, (seed) => {
        const sim = new SimCluster({ nodes: n, edges: make(n), seed, node: timers, delay: 2 });
        const t = sim.settle(60_000);
        expect(sim.violations()).toEqual([]);
        expect(t).toBeGreaterThanOrEqual(0);
      });
    });
  }
});

describe('simulator: start-up', { timeout: VIRTUAL_TIME_TIMEOUT_MS }, () => {
  it('a starting node pings its neighbours at once and sees them up within a round trip', () => {
    withSeed(3, (seed) => {
      // a 5 s tick (ping_interval 5 s): waiting a tick before the first ping would cost 5 s
      const slow = { pingInterval: 5, pingTimeout: 5000, nodeTimeout: 60 };
      const sim = new SimCluster({ nodes: 2, edges: [[1, 2]], seed, node: slow, delay: 2 });
      sim.clock.advance(0);
      for (const n of sim.nodes.values()) expect(n.counters.get('pings_sent') ?? 0).toBe(1);
      sim.clock.advance(50);
      expect(sim.node(1).clusters.get(1)?.nodes.get(2)?.link).toBe(LinkState.UP);
      expect(sim.node(2).clusters.get(1)?.nodes.get(1)?.link).toBe(LinkState.UP);
    });
  });
});

describe('simulator: failures, partitions and restarts', {
  timeout: VIRTUAL_TIME_TIMEOUT_MS,
}, () => {
  it('a crashed node is reported down by every other node, and up again after restart', () => {
    withSeed(5, (seed) => {
      const sim = new SimCluster({ nodes: 6, edges: Topologies.ring(6), seed, node: timers });
      expect(sim.settle(30_000)).toBeGreaterThanOrEqual(0);
      const events: string[] = [];
      for (const [id, n] of sim.nodes)
        n.on('node_state', (e) => events.push(`${id}:${e.nodeId}:${e.up ? 'up' : 'down'}`));
      sim.crash(4);
      expect(sim.settle(30_000)).toBeGreaterThanOrEqual(0);
      for (const id of [1, 2, 3, 5, 6]) expect(events).toContain(`${id}:4:down`);
      expect(events.filter((e) => e.endsWith(':up'))).toEqual([]);
      sim.restart(4);
      sim.clock.advance(1500);
      expect(sim.nodes.has(4)).toBe(true);
      expect(sim.settle(30_000)).toBeGreaterThanOrEqual(0);
      for (const id of [1, 2, 3, 5, 6]) expect(events).toContain(`${id}:4:up`);
    });
  });

  it('reroutes around a cut link and reports no reachability change', () => {
    withSeed(6, (seed) => {
      const sim = new SimCluster({ nodes: 6, edges: Topologies.ring(6), seed, node: timers });
      sim.settle(30_000);
      const events: string[] = [];
      for (const [id, n] of sim.nodes) n.on('node_state', (e) => events.push(`${id}:${e.nodeId}`));
      expect(sim.node(1).getNextHop(1, 2)).toBe(2);
      sim.cutEdge(1, 2);
      expect(sim.settle(30_000)).toBeGreaterThanOrEqual(0);
      expect(sim.node(1).getNextHop(1, 2)).toBe(6);
      expect(events).toEqual([]);
    });
  });

  it('a partition splits reachability and heals after node_timeout', () => {
    withSeed(7, (seed) => {
      const sim = new SimCluster({ nodes: 8, edges: Topologies.twoSite(8), seed, node: timers });
      sim.settle(30_000);
      sim.cutEdge(1, 5);
      sim.cutEdge(2, 6);
      expect(sim.settle(30_000)).toBeGreaterThanOrEqual(0);
      expect(
        sim
          .node(1)
          .getNodes(1)
          .map((n) => n.nodeId)
          .sort(),
      ).toEqual([2, 3, 4]);
      sim.healEdge(1, 5);
      sim.healEdge(2, 6);
      expect(sim.settle(30_000)).toBeGreaterThanOrEqual(0);
      expect(sim.node(1).getNodes(1)).toHaveLength(7);
    });
  });

  for (const [name, make, n] of [
    ['full mesh', Topologies.fullMesh, 8],
    ['ring', Topologies.ring, 12],
    ['two sites', Topologies.twoSite, 16],
    ['line', Topologies.line, 10],
    ['star', Topologies.star, 10],
    ['two sites', Topologies.twoSite, 32],
  ] as const) {
    it(`random crashes, restarts, cuts and heals on a ${name} of ${n} always re-converge`, () => {
      for (let run = 0; run < (n > 16 ? 1 : 3); run++) {
        withSeed(1000 + run * 17 + n, (seed) => {
          const sim = new SimCluster({
            nodes: n,
            edges: make(n),
            seed,
            node: timers,
            delay: 3,
            jitter: 4,
          });
          const r = sim.random;
          expect(sim.settle(60_000)).toBeGreaterThanOrEqual(0);
          const edges = [...sim.edges].map((e) => e.split('-').map(Number) as [number, number]);
          for (let round = 0; round < 6; round++) {
            for (let k = 0; k < 3; k++) {
              const what = r.int(0, 3);
              const id = r.int(1, n);
              const [a, b] = r.pick(edges);
              if (what === 0 && sim.nodes.size > 2) sim.crash(id);
              else if (what === 1) sim.restart(id);
              else if (what === 2) sim.cutEdge(a, b);
              else sim.healEdge(a, b);
              sim.clock.advance(r.int(0, 2500));
            }
            const t = sim.settle(120_000);
            expect(sim.violations(), `round ${round}`).toEqual([]);
            expect(t).toBeGreaterThanOrEqual(0);
          }
        });
      }
    });
  }
});

/** Two nodes, one-way delay 75 ms + jitter up to 195 ms: round trips 150–540 ms (timeout 300). */
const slowPair = (seed: number): SimCluster =>
  new SimCluster({ nodes: 2, edges: [[1, 2]], seed, node: timers, delay: 75, jitter: 195 });

describe('simulator: link rule and packet bounds', { timeout: VIRTUAL_TIME_TIMEOUT_MS }, () => {
  it('no flapping when pongs come back around ping_timeout (RTT 0.5x to 1.8x)', () => {
    withSeed(21, (seed) => {
      const sim = slowPair(seed);
      expect(sim.settle(10_000)).toBeGreaterThanOrEqual(0);
      const events: string[] = [];
      for (const [id, n] of sim.nodes) n.on('node_state', (e) => events.push(`${id}:${e.up}`));
      let lateTotal = 0;
      for (let i = 0; i < 600; i++) {
        sim.clock.advance(1000);
        expect(sim.node(1).clusters.get(1)?.nodes.get(2)?.link).toBe(LinkState.UP);
      }
      for (const n of sim.nodes.values()) lateTotal += n.counters.get('pings_sent') ?? 0;
      expect(events).toEqual([]);
      expect(lateTotal).toBeGreaterThan(600);
    });
  });

  it('a peer whose pongs stop is still brought down (the rule does not hide deaths)', () => {
    withSeed(22, (seed) => {
      const sim = slowPair(seed);
      sim.settle(10_000);
      sim.cutEdge(1, 2);
      const t = sim.clock.runUntil(() => sim.node(1).getNodes(1).length === 0, 5000);
      expect(t).toBeGreaterThan(0);
      expect(t).toBeLessThanOrEqual(1000 + 2 * 300 + 100);
    });
  });

  it('a node failure costs a bounded number of topology packets', () => {
    for (const n of [8, 16]) {
      withSeed(30 + n, (seed) => {
        const sim = new SimCluster({ nodes: n, edges: Topologies.fullMesh(n), seed, node: timers });
        sim.settle(60_000);
        sim.clock.advance(5000);
        const sum = (): number =>
          [...sim.nodes]
            .filter(([id]) => id !== n)
            .reduce((s, [, x]) => s + (x.counters.get('topology_sent') ?? 0), 0);
        const before = sum();
        sim.crash(n);
        expect(sim.settle(60_000)).toBeGreaterThanOrEqual(0);
        sim.clock.advance(5000);
        const after = sum();
        // every survivor floods one LS_UPDATE; a flood costs at most one packet per directed live link
        const survivors = n - 1;
        const bound = survivors * survivors * (survivors - 1);
        expect(after - before).toBeGreaterThan(0);
        expect(after - before).toBeLessThanOrEqual(bound);
      });
    }
  });
});

describe('simulator: connection resets', { timeout: VIRTUAL_TIME_TIMEOUT_MS }, () => {
  it('re-converges after a period of random connection resets on every link', () => {
    withSeed(77, (seed) => {
      const sim = new SimCluster({
        nodes: 12,
        edges: Topologies.twoSite(12),
        seed,
        node: timers,
        delay: 2,
        jitter: 2,
      });
      expect(sim.settle(30_000)).toBeGreaterThanOrEqual(0);
      sim.net.defaultProfile = { ...sim.net.defaultProfile, loss: 0.05 };
      sim.clock.advance(20_000);
      expect(sim.net.stats.reset).toBeGreaterThan(0);
      sim.net.defaultProfile = { ...sim.net.defaultProfile, loss: 0 };
      expect(sim.settle(60_000)).toBeGreaterThanOrEqual(0);
      expect(sim.violations()).toEqual([]);
    });
  });
});
