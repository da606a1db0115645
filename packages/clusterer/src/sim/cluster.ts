import { Clusterer } from '../clusterer.js';
import type { NodeConfig } from '../nodes/node-info.js';
import type { ClustererOptions } from '../options.js';
import { VirtualClock } from './clock.js';
import { SimNetwork } from './network.js';
import { SeededRandom } from './random.js';

/** Physical topologies for simulator suites: undirected edges over node ids 1..n. */
export const Topologies = {
  fullMesh(n: number): [number, number][] {
    const e: [number, number][] = [];
    for (let i = 1; i <= n; i++) for (let j = i + 1; j <= n; j++) e.push([i, j]);
    return e;
  },
  line(n: number): [number, number][] {
    const e: [number, number][] = [];
    for (let i = 1; i < n; i++) e.push([i, i + 1]);
    return e;
  },
  ring(n: number): [number, number][] {
    return n < 3 ? Topologies.line(n) : [...Topologies.line(n), [n, 1]];
  },
  star(n: number): [number, number][] {
    const e: [number, number][] = [];
    for (let i = 2; i <= n; i++) e.push([1, i]);
    return e;
  },
  /** Two full-mesh sites of n/2 nodes joined by two inter-site links. */
  twoSite(n: number): [number, number][] {
    const h = Math.floor(n / 2);
    const e: [number, number][] = [];
    for (let i = 1; i <= h; i++) for (let j = i + 1; j <= h; j++) e.push([i, j]);
    for (let i = h + 1; i <= n; i++) for (let j = i + 1; j <= n; j++) e.push([i, j]);
    e.push([1, h + 1]);
    if (h >= 2 && n - h >= 2) e.push([2, h + 2]);
    return e;
  },
};

export interface SimClusterOptions {
  nodes: number;
  edges: [number, number][];
  seed: number;
  clusterId?: number;
  /** Clusterer options applied to every node (timers, rerouting). */
  node?: Partial<
    Pick<
      ClustererOptions,
      | 'pingInterval'
      | 'pingTimeout'
      | 'nodeTimeout'
      | 'enableRerouting'
      | 'sync'
      | 'sharingTags'
      | 'shtagFailover'
    >
  >;
  /** Options for one node over `node` (e.g. `sipedgeMark: false`: an OpenSIPS-like node). */
  nodeOptions?: (
    id: number,
  ) => Partial<Pick<ClustererOptions, 'sipedgeMark' | 'sharingTags' | 'shtagFailover'>>;
  /** Called for every node instance (also after a restart) before it starts. */
  setup?: (node: Clusterer, id: number) => void;
  /** One-way delay and jitter of every link (ms). */
  delay?: number;
  jitter?: number;
}

export const hostOf = (id: number): string => `10.0.${id >> 8}.${id & 255}`;

/**
 * N real Clusterer instances on a virtual clock and an in-memory network. Every node knows
 * every other (as in a db_mode=1 table); the physical graph decides which pairs can talk.
 */
export class SimCluster {
  readonly clock = new VirtualClock();
  readonly random: SeededRandom;
  readonly net: SimNetwork;
  readonly nodes = new Map<number, Clusterer>();
  readonly edges = new Set<string>();
  readonly #pendingStarts = new Set<number>();
  readonly clusterId: number;
  readonly #configs: NodeConfig[];

  constructor(readonly options: SimClusterOptions) {
    this.random = new SeededRandom(options.seed);
    this.net = new SimNetwork(this.clock, this.random);
    this.net.defaultProfile = { delay: options.delay ?? 1, jitter: options.jitter ?? 0, loss: 0 };
    this.clusterId = options.clusterId ?? 1;
    this.#configs = [];
    for (let i = 1; i <= options.nodes; i++) {
      this.#configs.push({
        clusterId: this.clusterId,
        nodeId: i,
        url: `bin:${hostOf(i)}:5566`,
        dbId: i,
        enabled: true,
        noPingRetries: 3,
        priority: 50,
        sipAddr: '',
        seed: i === 1,
        description: `node ${i}`,
      });
    }
    for (const [a, b] of options.edges) this.edges.add(a < b ? `${a}-${b}` : `${b}-${a}`);
    for (let i = 1; i <= options.nodes; i++) {
      for (let j = i + 1; j <= options.nodes; j++)
        if (!this.edges.has(`${i}-${j}`)) this.net.cut(hostOf(i), hostOf(j));
    }
    for (let i = 1; i <= options.nodes; i++) this.#startNode(i);
  }

  #startNode(id: number): Clusterer {
    const node = new Clusterer({
      transport: this.net.transport(hostOf(id)),
      clock: this.clock,
      dbMode: 1,
      myNodeId: id,
      store: { load: () => this.#configs.map((c) => ({ ...c })) },
      ...this.options.node,
      ...this.options.nodeOptions?.(id),
    });
    this.nodes.set(id, node);
    this.options.setup?.(node, id);
    node.start();
    return node;
  }

  node(id: number): Clusterer {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`node ${id} is not running`);
    return n;
  }

  crash(id: number): void {
    this.#pendingStarts.delete(id);
    this.nodes.get(id)?.destroy();
    this.nodes.delete(id);
    this.net.crash(hostOf(id));
  }

  /**
   * Crash the node (if running) and start a fresh instance `downMs` later (default 1 s: a
   * process restart takes time, and update timestamps have a one-second resolution).
   */
  restart(id: number, downMs = 1000): void {
    if (this.nodes.has(id)) this.crash(id);
    this.#pendingStarts.add(id);
    this.clock.setTimeout(() => {
      if (!this.#pendingStarts.delete(id) || this.nodes.has(id)) return;
      this.#startNode(id);
    }, downMs);
  }

  /** Cut or heal a physical edge (only edges of the topology can be healed). */
  cutEdge(a: number, b: number): void {
    this.net.cut(hostOf(a), hostOf(b));
  }
  healEdge(a: number, b: number): void {
    if (this.edges.has(a < b ? `${a}-${b}` : `${b}-${a}`)) this.net.heal(hostOf(a), hostOf(b));
  }

  /** Live adjacency of the physical graph right now. */
  liveGraph(): Map<number, number[]> {
    const g = new Map<number, number[]>();
    for (const id of this.nodes.keys()) g.set(id, []);
    for (const e of this.edges) {
      const [a, b] = e.split('-').map(Number) as [number, number];
      if (!this.nodes.has(a) || !this.nodes.has(b) || this.net.isCut(hostOf(a), hostOf(b)))
        continue;
      g.get(a)?.push(b);
      g.get(b)?.push(a);
    }
    return g;
  }

  /** True hop distances from `from` over live nodes and uncut edges. */
  trueDistances(
    from: number,
    graph: Map<number, number[]> = this.liveGraph(),
  ): Map<number, number> {
    const dist = new Map<number, number>([[from, 0]]);
    const q = [from];
    for (let i = 0; i < q.length; i++) {
      const cur = q[i] as number;
      for (const n of graph.get(cur) ?? []) {
        if (dist.has(n)) continue;
        dist.set(n, (dist.get(cur) as number) + 1);
        q.push(n);
      }
    }
    return dist;
  }

  /**
   * Problems with the current state, empty when converged: every live node's reachable set
   * equals the true one and every next hop starts a shortest path.
   */
  violations(): string[] {
    const problems: string[] = [];
    const graph = this.liveGraph();
    const all = new Map<number, Map<number, number>>();
    for (const id of this.nodes.keys()) all.set(id, this.trueDistances(id, graph));
    for (const [id, node] of this.nodes) {
      const truth = all.get(id) as Map<number, number>;
      const seen = new Set(node.getNodes(this.clusterId).map((n) => n.nodeId));
      for (let other = 1; other <= this.options.nodes; other++) {
        if (other === id) continue;
        const reachable = truth.has(other);
        if (reachable !== seen.has(other)) {
          problems.push(
            `node ${id}: node ${other} ${reachable ? 'reachable but not seen' : 'seen but unreachable'}`,
          );
          continue;
        }
        if (!reachable) continue;
        const hop = node.getNextHop(this.clusterId, other);
        const d = truth.get(other) as number;
        const hd = hop === undefined ? undefined : all.get(hop)?.get(other);
        if (hop === undefined || !(graph.get(id) ?? []).includes(hop) || hd !== d - 1) {
          problems.push(
            `node ${id}: next hop ${hop} to ${other} is not on a shortest path (distance ${d})`,
          );
        }
      }
    }
    return problems;
  }

  /** Run until converged (checked every `step` ms) or `maxMs`; returns the time taken or -1. */
  settle(maxMs: number, step = 100): number {
    return this.clock.runUntil(() => this.violations().length === 0, maxMs, step);
  }
}
