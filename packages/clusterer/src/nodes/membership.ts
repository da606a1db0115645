import type { RoutedPacket } from '../bin/packet.js';
import { ClustererConfigError } from '../errors.js';
import type { ClusterState } from './clusters.js';
import { LinkState, type RemoteNode } from './remote-node.js';
import type { NodeStore } from './store.js';

/** What enabling and removing nodes needs: link changes, routes, the store, a broadcast. */
export interface MembershipHost {
  readonly myNodeId: number;
  readonly dbMode: 0 | 1;
  readonly store: NodeStore | undefined;
  readonly clusters: ReadonlyMap<number, ClusterState>;
  setLink(cl: ClusterState, node: RemoteNode, state: LinkState): void;
  markDirty(cl: ClusterState): void;
  settle(): void;
  /** Send a packet made per destination to every enabled node of the cluster. */
  broadcast(clusterId: number, make: (dst: number) => RoutedPacket): void;
}

/**
 * What an operator changes in a cluster's membership: `clusterer_set_status` (enable or
 * disable a node, or the local node) and `clusterer_remove_node` (db_mode=0), also when the
 * latter arrives from another node as REMOVE_NODE.
 */
export class Membership {
  readonly #host: MembershipHost;

  constructor(host: MembershipHost) {
    this.#host = host;
  }

  #cluster(clusterId: number): ClusterState {
    const cl = this.#host.clusters.get(clusterId);
    if (cl === undefined) throw new ClustererConfigError('Cluster id not found');
    return cl;
  }

  /**
   * `clusterer_set_status`: enable or disable a remote node, or (nodeId omitted) the local
   * node. Disabling the local node makes it silent: every link DOWN, all traffic ignored.
   */
  setState(clusterId: number, enabled: boolean, nodeId?: number): void {
    const cl = this.#cluster(clusterId);
    const host = this.#host;
    if (nodeId === undefined || nodeId === host.myNodeId) {
      cl.enabled = enabled;
      for (const n of cl.nodes.values()) {
        if (!enabled) {
          if (n.link === LinkState.UP) {
            n.link = LinkState.DOWN;
            cl.direct.delete(n.id);
          } else n.link = LinkState.DOWN;
          n.neighbours.clear();
        } else n.link = LinkState.RESTART_PINGING;
      }
      cl.topVersion++;
      host.markDirty(cl);
      host.store?.setState?.(clusterId, host.myNodeId, enabled);
    } else {
      const n = cl.nodes.get(nodeId);
      if (n === undefined) throw new ClustererConfigError('Node id not found');
      n.enabled = enabled;
      if (!enabled) host.setLink(cl, n, LinkState.DOWN);
      else host.setLink(cl, n, LinkState.RESTART_PINGING);
      host.markDirty(cl);
      host.store?.setState?.(clusterId, nodeId, enabled);
    }
    host.settle();
  }

  /** `clusterer_remove_node` (db_mode=0): tell every node, then forget it here. */
  removeNode(clusterId: number, nodeId: number): void {
    if (this.#host.dbMode !== 0) throw new ClustererConfigError('Running in DB mode');
    const cl = this.#cluster(clusterId);
    if (!cl.nodes.has(nodeId)) throw new ClustererConfigError('Node id not found');
    this.#host.broadcast(clusterId, (dst) => ({
      kind: 'remove_node',
      cluster: clusterId,
      src: this.#host.myNodeId,
      dst,
      target: nodeId,
    }));
    this.removeLocally(cl, nodeId);
  }

  /** Forget a node (REMOVE_NODE); one naming me disables the local node. */
  removeLocally(cl: ClusterState, target: number): void {
    const host = this.#host;
    if (target === host.myNodeId) {
      this.setState(cl.id, false);
      return;
    }
    const n = cl.nodes.get(target);
    if (n === undefined) return;
    if (n.link === LinkState.UP) host.setLink(cl, n, LinkState.DOWN);
    n.enabled = false;
    host.markDirty(cl);
    host.settle();
    cl.nodes.delete(target);
    for (const other of cl.nodes.values()) other.neighbours.delete(target);
    cl.topVersion++;
    host.markDirty(cl);
    host.settle();
  }
}
