import { ClustererConfigError } from '../errors.js';
import type { SyncHost, SyncPeer } from '../sync/host.js';
import { SIPEDGE_SYNC_CAP } from '../sync/wire.js';
import { SHTAG_CLAIM_CAP, type ShtagHost } from '../tags/sharing-tags.js';
import { type NodeConfig, parseBinUrl } from './node-info.js';
import { type NodeView, RemoteNode } from './remote-node.js';

/** One cluster this node is in: me, the other nodes, and my side of the topology. */
export interface ClusterState {
  readonly id: number;
  readonly me: NodeConfig;
  enabled: boolean;
  readonly nodes: Map<number, RemoteNode>;
  /** My UP links. */
  readonly direct: Set<number>;
  lsSeq: number;
  lsTs: number;
  topSeq: number;
  capSeq: number;
  topVersion: number;
}

export const MAX_NODES_PER_CLUSTER = 128;

/**
 * Fill `into` with the clusters `myNodeId` is in and their other nodes, from node table rows
 * (db_mode=1) or node info strings (db_mode=0). Throws when my node is in no cluster or a
 * cluster has more than 128 nodes.
 */
export function loadClusters(
  into: Map<number, ClusterState>,
  configs: NodeConfig[],
  myNodeId: number,
): void {
  const mine = configs.filter((c) => c.nodeId === myNodeId);
  for (const me of mine) {
    if (into.has(me.clusterId)) continue;
    into.set(me.clusterId, {
      id: me.clusterId,
      me,
      enabled: me.enabled,
      nodes: new Map(),
      direct: new Set(),
      lsSeq: -1,
      lsTs: 0,
      topSeq: -1,
      capSeq: -1,
      topVersion: 0,
    });
  }
  if (into.size === 0) throw new ClustererConfigError(`node ${myNodeId} is in no cluster`);
  for (const c of configs) {
    const cl = into.get(c.clusterId);
    if (cl === undefined || c.nodeId === myNodeId || cl.nodes.has(c.nodeId)) continue;
    if (cl.nodes.size >= MAX_NODES_PER_CLUSTER)
      throw new ClustererConfigError('more than 128 nodes in a cluster');
    cl.nodes.set(c.nodeId, new RemoteNode(c));
  }
}

/** Is `host` the address of a node of the cluster, me included (the `auth_check` of BIN)? */
export function isNodeHost(cl: ClusterState, host: string): boolean {
  if (parseBinUrl(cl.me.url).host === host) return true;
  for (const n of cl.nodes.values()) if (n.addr.host === host) return true;
  return false;
}

// Queries over the routes as they stand (the caller settles them first).

/** Is any node of the cluster reachable? */
export function anyReachable(cl: ClusterState): boolean {
  for (const n of cl.nodes.values()) if (n.nextHop !== undefined) return true;
  return false;
}

/** The reachable nodes as the clusterer API's `get_nodes` lists them. */
export function reachableNodes(cl: ClusterState): NodeView[] {
  return [...cl.nodes.values()]
    .filter((n) => n.nextHop !== undefined)
    .map((n) => ({
      nodeId: n.id,
      url: n.url,
      sipAddr: n.sipAddr,
      priority: n.priority,
      description: n.description,
      seed: n.seed,
    }));
}

/** Reachable, enabled nodes that advertise capability `cap` synced. */
export function syncedPeers(cl: ClusterState, cap: string): number[] {
  return [...cl.nodes.values()]
    .filter((n) => n.enabled && n.nextHop !== undefined && n.caps.get(cap) === true)
    .map((n) => n.id);
}

/** Reachable, enabled nodes as sync donors or peers for capability `cap`. */
function syncPeers(cl: ClusterState, cap: string): SyncPeer[] {
  return [...cl.nodes.values()]
    .filter((n) => n.enabled && n.nextHop !== undefined)
    .map((n) => ({
      id: n.id,
      sipAddr: n.sipAddr,
      priority: n.priority,
      direct: n.nextHop === n.id,
      ok: n.caps.get(cap) === true,
      known: n.caps.has(cap),
      sipedge: n.caps.get(SIPEDGE_SYNC_CAP) === true,
    }));
}

/** Reachable, enabled nodes that run sipedge sharing-tag failover. */
function failoverPeers(cl: ClusterState): { id: number; priority: number }[] {
  return [...cl.nodes.values()]
    .filter((n) => n.enabled && n.nextHop !== undefined && n.caps.get(SHTAG_CLAIM_CAP))
    .map((n) => ({ id: n.id, priority: n.priority }));
}

/**
 * Do I reach a strict majority of the cluster's known nodes (me included), or exactly half
 * with a seed node on my side?
 */
function holdsMajority(cl: ClusterState): boolean {
  const all = cl.nodes.size + 1;
  const up = [...cl.nodes.values()].filter((n) => n.nextHop !== undefined);
  const votes = up.length + 1;
  if (votes * 2 > all) return true;
  // an even split: the side holding a seed node (the arbiter) wins
  return votes * 2 === all && (cl.me.seed || up.some((n) => n.seed));
}

/**
 * What sync and sharing tags ask about the clusters, routes settled first (with `settle`)
 * where reachability matters.
 */
export function clusterQueries(
  clusters: ReadonlyMap<number, ClusterState>,
  settle: () => void,
  isSynced: (capability: string) => boolean,
): Pick<SyncHost, 'isSeed' | 'mySipAddr' | 'candidates' | 'holdsMajority' | 'speaksSipedge'> &
  Pick<
    ShtagHost,
    'failoverPeers' | 'myPriority' | 'eligible' | 'anyPeerSynced' | 'hasCluster' | 'nodeIds'
  > {
  return {
    isSeed: (id) => clusters.get(id)?.me.seed === true,
    speaksSipedge: (id, node) =>
      clusters.get(id)?.nodes.get(node)?.caps.get(SIPEDGE_SYNC_CAP) === true,
    holdsMajority: (id) => {
      const cl = clusters.get(id);
      if (cl === undefined || !cl.enabled) return false;
      settle();
      return holdsMajority(cl);
    },
    mySipAddr: (id) => clusters.get(id)?.me.sipAddr ?? '',
    candidates: (id, cap) => {
      const cl = clusters.get(id);
      if (cl === undefined) return [];
      settle();
      return syncPeers(cl, cap);
    },
    failoverPeers: (id) => {
      const cl = clusters.get(id);
      if (cl === undefined) return [];
      settle();
      return failoverPeers(cl);
    },
    myPriority: (id) => clusters.get(id)?.me.priority ?? 50,
    eligible: (id, requires) => {
      const cl = clusters.get(id);
      if (cl === undefined || !cl.enabled) return false;
      settle();
      for (const cap of requires) if (!isSynced(cap)) return false;
      return holdsMajority(cl);
    },
    anyPeerSynced: (id, caps) => {
      const cl = clusters.get(id);
      if (cl === undefined) return false;
      settle();
      return [...cl.nodes.values()].some(
        (n) => n.enabled && n.nextHop !== undefined && caps.every((c) => n.caps.get(c) === true),
      );
    },
    hasCluster: (id) => clusters.has(id),
    nodeIds: (id) =>
      [...(clusters.get(id)?.nodes.values() ?? [])].filter((n) => n.enabled).map((n) => n.id),
  };
}
