import { VIRTUAL_TIME_TIMEOUT_MS } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { decodeHeader } from '../bin/packet.js';
import { SHTAG_CLAIM_CAP } from '../tags/sharing-tags.js';
import { SimCluster, Topologies, withSeed } from './index.js';

const timers = { pingInterval: 1, pingTimeout: 300, nodeTimeout: 2 };
const TAG = 'vip/1';

function tagCluster(
  n: number,
  seed: number,
  tags: string[] = [`${TAG.replace('/1', '')}/1=backup`],
): SimCluster {
  return new SimCluster({
    nodes: n,
    edges: Topologies.fullMesh(n),
    seed,
    delay: 2,
    jitter: 2,
    node: { ...timers, sharingTags: tags, shtagFailover: { enabled: true, holdDownMs: 500 } },
  });
}

const actives = (sim: SimCluster): number[] =>
  [...sim.nodes.entries()].filter(([, n]) => n.shtagState(TAG) === 'active').map(([id]) => id);

/** Two actives that can reach each other right now. */
function conflict(sim: SimCluster): boolean {
  const a = actives(sim);
  for (const x of a)
    for (const y of a)
      if (
        x < y &&
        sim
          .node(x)
          .getNodes(1)
          .some((n) => n.nodeId === y)
      )
        return true;
  return false;
}

describe('sharing-tag failover in the simulator', { timeout: VIRTUAL_TIME_TIMEOUT_MS }, () => {
  it('an unowned tag gets exactly one owner; a killed owner is replaced within the hold-down', () => {
    withSeed(61, (seed) => {
      const sim = tagCluster(3, seed);
      expect(sim.clock.runUntil(() => actives(sim).length === 1, 10_000)).toBeGreaterThan(0);
      sim.clock.advance(3000);
      expect(actives(sim)).toEqual([1]);
      // failover is per configured tag: a tag only read into existence gets no owner
      for (const n of sim.nodes.values()) expect(n.shtagState('other/1')).toBe('backup');
      sim.clock.advance(3000);
      for (const n of sim.nodes.values()) expect(n.shtagState('other/1')).toBe('backup');
      const changes: string[] = [];
      sim.node(2).onShtagChange((e) => changes.push(`${e.state}:${e.reason}`));
      sim.crash(1);
      const t = sim.clock.runUntil(() => actives(sim).length === 1, 10_000);
      expect(t).toBeGreaterThan(0);
      expect(t).toBeLessThan(1500);
      expect(actives(sim)).toEqual([2]);
      expect(changes).toEqual(['active:failover: owner 1 unreachable']);
      // the old owner restarts and does not take the tag back
      sim.restart(1, 0);
      sim.clock.advance(5000);
      expect(actives(sim)).toEqual([2]);
    });
  });

  it('a minority never takes over; two actives after a partition resolve to one', () => {
    withSeed(62, (seed) => {
      const sim = tagCluster(5, seed);
      sim.clock.runUntil(() => actives(sim).length === 1, 10_000);
      sim.clock.advance(2000);
      const owner = actives(sim)[0] as number;
      const minority = [owner, owner === 5 ? 4 : 5];
      const majority = [1, 2, 3, 4, 5].filter((x) => !minority.includes(x));
      for (const a of minority) for (const b of majority) sim.cutEdge(a, b);
      sim.clock.advance(6000);
      // the old owner lost its majority and stepped down; the majority side elected one
      expect(actives(sim).filter((x) => minority.includes(x))).toEqual([]);
      expect(actives(sim).filter((x) => majority.includes(x)).length).toBe(1);
      for (const [a, b] of Topologies.fullMesh(5)) sim.healEdge(a, b);
      sim.clock.advance(8000);
      expect(actives(sim).length).toBe(1);
    });
  });

  it('two-node cluster: the seed side keeps or takes the tag, the other side gives it up', () => {
    withSeed(63, (seed) => {
      const sim = tagCluster(2, seed);
      sim.clock.runUntil(() => actives(sim).length === 1, 10_000);
      sim.clock.advance(2000);
      sim.cutEdge(1, 2);
      sim.clock.advance(5000);
      expect(actives(sim)).toEqual([1]);
      sim.healEdge(1, 2);
      sim.clock.advance(5000);
      expect(actives(sim)).toEqual([1]);
      sim.crash(1);
      sim.clock.advance(5000);
      // node 2 alone is not a majority and holds no seed: no owner rather than two
      expect(actives(sim)).toEqual([]);
    });
  });

  it('beside OpenSIPS nodes an owner cut off keeps its tag: never a tag with no owner', () => {
    withSeed(66, (seed) => {
      // node 1 runs sipedge failover and owns the tag; nodes 2 and 3 are OpenSIPS (no sipedge
      // mark, no failover): they take a tag only when told (MI), as OpenSIPS does
      const sim = new SimCluster({
        nodes: 3,
        edges: Topologies.fullMesh(3),
        seed,
        delay: 2,
        jitter: 2,
        node: { ...timers, sharingTags: [`${TAG}=backup`] },
        nodeOptions: (id) =>
          id === 1
            ? { sharingTags: [`${TAG}=active`], shtagFailover: { enabled: true, holdDownMs: 500 } }
            : { sipedgeMark: false },
      });
      // sipedge's claims are its own capability: an OpenSIPS node is never sent one
      const claimsTo: string[] = [];
      sim.net.onDeliver = (_from, to, b) => {
        if (decodeHeader(b).capability === SHTAG_CLAIM_CAP) claimsTo.push(to);
      };
      expect(sim.clock.runUntil(() => actives(sim).length === 1, 10_000)).toBeGreaterThan(0);
      sim.clock.advance(2000);
      expect(actives(sim)).toEqual([1]);
      // cut off from both: no majority, but nobody else would ever take the tag
      const owners: number[] = [];
      const run = (ms: number): void => {
        for (let t = 0; t < ms; t += 100) {
          sim.clock.advance(100);
          owners.push(actives(sim).length);
        }
      };
      sim.cutEdge(1, 2);
      sim.cutEdge(1, 3);
      run(5000);
      expect(actives(sim)).toEqual([1]);
      sim.healEdge(1, 2);
      sim.healEdge(1, 3);
      run(3000);
      expect(actives(sim)).toEqual([1]);
      // the operator moves the tag to an OpenSIPS node: node 1 hears it and goes backup
      sim.node(2).shtagSetActive(TAG, 'MI command');
      run(1000);
      expect(actives(sim)).toEqual([2]);
      expect(owners.every((n) => n >= 1)).toBe(true);
      expect(claimsTo).toEqual([]);
    });
  });

  it('random crashes, restarts, partitions and heals: one active after healing, conflicts short', () => {
    for (const s of [71, 72, 73, 74]) {
      withSeed(s, (seed) => {
        const n = 5;
        const sim = tagCluster(n, seed, ['vip/1=active']);
        let conflictMs = 0;
        let worst = 0;
        const sample = (ms: number): void => {
          for (let i = 0; i < ms / 50; i++) {
            sim.clock.advance(50);
            if (conflict(sim)) {
              conflictMs += 50;
              worst = Math.max(worst, conflictMs);
            } else conflictMs = 0;
          }
        };
        for (let round = 0; round < 8; round++) {
          const a = sim.random.int(1, n);
          const b = sim.random.int(1, n);
          switch (sim.random.int(0, 3)) {
            case 0:
              if (sim.nodes.size > 3) sim.crash(a);
              break;
            case 1:
              sim.restart(a, 500);
              break;
            case 2:
              if (a !== b) sim.cutEdge(a, b);
              break;
            default:
              if (a !== b) sim.healEdge(a, b);
          }
          sample(sim.random.int(500, 4000));
        }
        for (let i = 1; i <= n; i++) if (!sim.nodes.has(i)) sim.restart(i, 0);
        for (const [a, b] of Topologies.fullMesh(n)) sim.healEdge(a, b);
        sample(10_000);
        expect(actives(sim).length).toBe(1);
        expect(worst).toBeLessThanOrEqual(1000);
      });
    }
  });
});
