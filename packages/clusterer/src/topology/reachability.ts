import type { ClusterState } from '../nodes/clusters.js';
import { computeRoutes } from './routing.js';

/** What route recomputation needs: who I am, the routing mode, and where NODE_UP/DOWN go. */
export interface ReachabilityHost {
  readonly myNodeId: number;
  readonly rerouting: boolean;
  /** A node became reachable or unreachable (not: a direct link changed). */
  nodeState(clusterId: number, nodeId: number, up: boolean): void;
}

/**
 * Next hops and reachability. A change of topology marks its cluster dirty; `settle()`
 * recomputes the routes of dirty clusters and raises NODE_UP / NODE_DOWN for the nodes whose
 * reachability changed. What an unreachable node reported is forgotten, to be relearnt when it
 * comes back.
 */
export class Reachability {
  readonly #host: ReachabilityHost;
  readonly #dirty = new Set<ClusterState>();

  constructor(host: ReachabilityHost) {
    this.#host = host;
  }

  markDirty(cl: ClusterState): void {
    this.#dirty.add(cl);
  }

  /** Recompute routes of changed clusters and raise NODE_UP / NODE_DOWN. */
  settle(): void {
    for (let i = 0; i < 8 && this.#dirty.size > 0; i++) {
      const list = [...this.#dirty];
      this.#dirty.clear();
      for (const cl of list) this.#recompute(cl);
    }
  }

  #recompute(cl: ClusterState): void {
    const table = computeRoutes(
      {
        direct: cl.direct,
        neighboursOf: (id) => cl.nodes.get(id)?.neighbours,
        priorityOf: (id) => cl.nodes.get(id)?.priority ?? 0,
      },
      this.#host.myNodeId,
      this.#host.rerouting,
    );
    const events: { nodeId: number; up: boolean }[] = [];
    for (const n of cl.nodes.values()) {
      const before = n.nextHop !== undefined;
      const hop = n.enabled ? table.nextHop.get(n.id) : undefined;
      n.nextHop = hop;
      const after = hop !== undefined;
      if (before !== after) events.push({ nodeId: n.id, up: after });
      if (before && !after) {
        // what an unreachable node reported is stale; relearn it when it comes back
        n.lsSeq = -1;
        n.topSeq = -1;
        n.capSeq = -1;
        n.caps.clear();
        n.linkSeq = new Map();
        n.relayedSeq = new Map();
        if (n.neighbours.size > 0) {
          n.neighbours = new Set();
          cl.topVersion++;
        }
      }
    }
    for (const e of events) this.#host.nodeState(cl.id, e.nodeId, e.up);
  }
}
