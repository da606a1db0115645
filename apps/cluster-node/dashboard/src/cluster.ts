/**
 * The cluster as one node's MI shows it, put together for the view: nodes with their reach
 * from here and links from the topology (local commands, answered at once), and, through
 * `cluster_send_mi` to each reachable node, its sharing tags and capability sync states (each
 * node knows only its own). The two are loaded apart, so a node that stopped answering delays
 * nothing but its own column.
 */
import type { MiSocket } from './mi.js';

/**
 * `up`: linked directly; `relayed`: reached through another node (next hop); `down`: not
 * reachable at all (no next hop), whether its link is still probed or not.
 */
export type NodeState = 'self' | 'up' | 'relayed' | 'down' | 'disabled';

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
    /** `sync_state` is sipedge's (asked with `detail: 1`); an OpenSIPS node gives `state` only. */
    Capabilities: Array<{ name: string; state: string; sync_state?: string }>;
  }>;
}
/** What one node says of itself: its sharing tags and capabilities. */
export interface NodeFacts {
  readonly tags: Shtags;
  readonly caps: Caps;
}

/** What the node the page is on knows: the nodes, their links, and its own facts. */
export interface LocalCluster {
  readonly clusterId: number;
  readonly self: number;
  readonly nodes: readonly ClusterNodeView[];
  readonly links: readonly ClusterLinkView[];
  readonly facts: NodeFacts;
  readonly at: Date;
}

function stateOf(n: ClustererList['Clusters'][number]['Nodes'][number]): NodeState {
  if (n.state === 'disabled') return 'disabled';
  if (n.next_hop === 'none') return 'down';
  return n.link_state === 'Up' ? 'up' : 'relayed';
}

/** Ask the node the page is on for the cluster as it sees it (local commands only: fast). */
export async function loadLocal(mi: MiSocket): Promise<LocalCluster> {
  const info = await mi.call<NodeInfo>('node_info');
  const cid = info.cluster_id;
  const [list, topo, tags, caps] = await Promise.all([
    mi.call<ClustererList>('clusterer_list'),
    mi.call<Topology>('clusterer_list_topology'),
    mi.call<Shtags>('clusterer_list_shtags'),
    mi.call<Caps>('clusterer_list_cap', { detail: 1 }),
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
  return { clusterId: cid, self, nodes, links, facts: { tags, caps }, at: new Date() };
}

/**
 * Ask another node for its facts through this one (`cluster_send_mi`; each node knows only its
 * own tags and capabilities). Rejects when the node does not answer.
 */
export async function loadRemote(
  mi: MiSocket,
  clusterId: number,
  nodeId: number,
): Promise<NodeFacts> {
  const ask = async <T>(cmd: string): Promise<T> => {
    const r = await mi.call<{ result?: unknown; error?: { message: string } }>('cluster_send_mi', {
      cluster_id: clusterId,
      destination: nodeId,
      cmd_name: cmd,
    });
    if (r.error !== undefined || r.result === undefined) {
      throw new Error(r.error?.message ?? 'no result');
    }
    return (typeof r.result === 'string' ? JSON.parse(r.result) : r.result) as T;
  };
  const [tags, caps] = await Promise.all([
    ask<Shtags>('clusterer_list_shtags'),
    ask<Caps>('clusterer_list_cap'),
  ]);
  return { tags, caps };
}

/** The view: the local picture with each reachable node's own facts. */
export function clusterView(
  local: LocalCluster,
  remote: ReadonlyMap<number, NodeFacts>,
): ClusterView {
  const facts = new Map<number, NodeFacts>([[local.self, local.facts]]);
  for (const n of local.nodes) {
    const f = remote.get(n.id);
    if ((n.state === 'up' || n.state === 'relayed') && f !== undefined) facts.set(n.id, f);
  }
  const tagStates = new Map<string, Map<number, string>>();
  const capStates = new Map<string, Map<number, string>>();
  for (const [id, f] of facts) {
    for (const t of f.tags) {
      const key = `${t.Tag}/${t.Cluster}`;
      const m = tagStates.get(key) ?? new Map<number, string>();
      m.set(id, t.State);
      tagStates.set(key, m);
    }
    const caps = f.caps.Clusters.find((x) => x.cluster_id === local.clusterId)?.Capabilities;
    for (const cap of caps ?? []) {
      const m = capStates.get(cap.name) ?? new Map<number, string>();
      m.set(id, cap.sync_state ?? (cap.state === 'Ok' ? 'synced' : cap.state));
      capStates.set(cap.name, m);
    }
  }
  const byName = <T>([a]: [string, T], [b]: [string, T]): number => a.localeCompare(b);
  return {
    clusterId: local.clusterId,
    self: local.self,
    nodes: local.nodes,
    links: local.links,
    tags: [...tagStates].sort(byName).map(([key, states]) => ({ key, states })),
    caps: [...capStates].sort(byName).map(([name, states]) => ({ name, states })),
    at: local.at,
  };
}
