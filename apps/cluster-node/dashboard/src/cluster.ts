/**
 * The cluster as one node's MI shows it, put together for the view: nodes with their reach
 * from here, links from the topology, and, through `cluster_broadcast_mi`, every node's sharing
 * tags and capability sync states (each node knows only its own).
 */
import type { MiSocket } from './mi.js';

export type NodeState = 'self' | 'up' | 'probe' | 'down' | 'disabled';

export interface ClusterNodeView {
  readonly id: number;
  readonly label: string;
  readonly url: string;
  readonly state: NodeState;
  /** This node's link to it: `Up`, `Probe`, `Down` (`-` for itself). */
  readonly link: string;
  readonly nextHop: string;
}

export interface ClusterLinkView {
  readonly a: number;
  readonly b: number;
  readonly up: boolean;
}

export interface TagView {
  /** `name/cluster`. */
  readonly key: string;
  /** Node id → `active` / `backup` (nodes that did not answer are absent). */
  readonly states: ReadonlyMap<number, string>;
}

export interface CapView {
  readonly name: string;
  /** Node id → sync state (`synced`, `syncing`, `not synced`…). */
  readonly states: ReadonlyMap<number, string>;
}

export interface ClusterView {
  readonly clusterId: number;
  readonly self: number;
  readonly nodes: readonly ClusterNodeView[];
  readonly links: readonly ClusterLinkView[];
  readonly tags: readonly TagView[];
  readonly caps: readonly CapView[];
  readonly at: Date;
}

interface NodeInfo {
  node_id: number;
  name: string;
  cluster_id: number;
}
interface ClustererList {
  Clusters: Array<{
    cluster_id: number;
    Nodes: Array<{
      node_id: number;
      url: string;
      link_state: string;
      state: string;
      next_hop: string;
      description: string;
    }>;
  }>;
}
interface Topology {
  Clusters: Array<{ cluster_id: number; Nodes: Array<{ node_id: number; Neighbours: number[] }> }>;
}
type Shtags = Array<{ Tag: string; Cluster: number; State: string }>;
interface Caps {
  Clusters: Array<{
    cluster_id: number;
    Capabilities: Array<{ name: string; sync_state: string }>;
  }>;
}
interface Broadcast {
  result: unknown;
  Nodes: Array<{ node_id: number; result?: unknown; error?: unknown }>;
}

/** Each node's result of a broadcast command (the local one under `self`). */
function perNode<T>(self: number, reply: Broadcast | string): Map<number, T> {
  const out = new Map<number, T>();
  if (typeof reply === 'string') return out; // "Local node disabled"
  const add = (id: number, r: unknown): void => {
    if (r === undefined || (typeof r === 'object' && r !== null && 'error' in r)) return;
    out.set(id, (typeof r === 'string' ? JSON.parse(r) : r) as T);
  };
  add(self, reply.result);
  for (const n of reply.Nodes) if (n.error === undefined) add(n.node_id, n.result);
  return out;
}

function stateOf(n: ClustererList['Clusters'][number]['Nodes'][number]): NodeState {
  if (n.state === 'disabled') return 'disabled';
  if (n.next_hop !== 'none') return 'up';
  return n.link_state === 'Probe' ? 'probe' : 'down';
}

/** Ask the node everything the Cluster view shows. */
export async function loadCluster(mi: MiSocket): Promise<ClusterView> {
  const info = await mi.call<NodeInfo>('node_info');
  const cid = info.cluster_id;
  const [list, topo, tags, caps] = await Promise.all([
    mi.call<ClustererList>('clusterer_list'),
    mi.call<Topology>('clusterer_list_topology'),
    mi.call<Broadcast | string>('cluster_broadcast_mi', {
      cluster_id: cid,
      cmd_name: 'clusterer_list_shtags',
    }),
    mi.call<Broadcast | string>('cluster_broadcast_mi', {
      cluster_id: cid,
      cmd_name: 'clusterer_list_cap',
    }),
  ]);
  const self = info.node_id;
  const others = list.Clusters.find((c) => c.cluster_id === cid)?.Nodes ?? [];
  const nodes: ClusterNodeView[] = [
    { id: self, label: info.name, url: '', state: 'self' as const, link: '-', nextHop: '-' },
    ...others.map(
      (n): ClusterNodeView => ({
        id: n.node_id,
        label: n.description === 'none' ? `node${n.node_id}` : n.description,
        url: n.url,
        state: stateOf(n),
        link: n.link_state,
        nextHop: n.next_hop,
      }),
    ),
  ].sort((a, b) => a.id - b.id);
  const down = new Set(nodes.filter((n) => n.state === 'down').map((n) => n.id));
  const seen = new Set<string>();
  const links: ClusterLinkView[] = [];
  for (const n of topo.Clusters.find((c) => c.cluster_id === cid)?.Nodes ?? []) {
    for (const m of n.Neighbours) {
      const [a, b] = n.node_id < m ? [n.node_id, m] : [m, n.node_id];
      if (seen.has(`${a}-${b}`)) continue;
      seen.add(`${a}-${b}`);
      links.push({ a, b, up: !down.has(a) && !down.has(b) });
    }
  }
  // this node's own links are drawn even when down, so a lost neighbour stays visible
  for (const n of others) {
    const [a, b] = n.node_id < self ? [n.node_id, self] : [self, n.node_id];
    if (!seen.has(`${a}-${b}`)) links.push({ a, b, up: false });
  }
  const tagStates = new Map<string, Map<number, string>>();
  for (const [id, list] of perNode<Shtags>(self, tags)) {
    for (const t of list) {
      const key = `${t.Tag}/${t.Cluster}`;
      const m = tagStates.get(key) ?? new Map<number, string>();
      m.set(id, t.State);
      tagStates.set(key, m);
    }
  }
  const capStates = new Map<string, Map<number, string>>();
  for (const [id, c] of perNode<Caps>(self, caps)) {
    for (const cap of c.Clusters.find((x) => x.cluster_id === cid)?.Capabilities ?? []) {
      const m = capStates.get(cap.name) ?? new Map<number, string>();
      m.set(id, cap.sync_state);
      capStates.set(cap.name, m);
    }
  }
  return {
    clusterId: cid,
    self,
    nodes,
    links,
    tags: [...tagStates]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, states]) => ({ key, states })),
    caps: [...capStates]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, states]) => ({ name, states })),
    at: new Date(),
  };
}
