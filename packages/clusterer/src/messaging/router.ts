import { encodePacket, type RoutedPacket } from '../bin/packet.js';
import type { ClusterState } from '../nodes/clusters.js';
import type { RemoteNode } from '../nodes/remote-node.js';
import type { BinTransport } from '../runtime.js';

/** Result codes of `cluster_send_req` / `cluster_broadcast_req` and of sendTo/sendAll. */
export const SendResult = { SENT: 1, LOCAL_DISABLED: -1, UNREACHABLE: -2, SEND_ERROR: -3 } as const;
export type SendResult = (typeof SendResult)[keyof typeof SendResult];

/** What routing a packet needs: the clusters, sends on links, and settled routes. */
export interface RouterHost {
  readonly myNodeId: number;
  readonly clusters: ReadonlyMap<number, ClusterState>;
  readonly transport: Pick<BinTransport, 'bulkRoom'>;
  /** Send on the link to a neighbour (a failure is a link event, and changes the routes). */
  send(
    cl: ClusterState,
    node: RemoteNode,
    packet: Buffer,
    internal: boolean,
    bulk: boolean,
  ): boolean;
  /** Recompute the routes that changed. */
  settle(): void;
}

/**
 * Routed packets (module, generic, MI, sync, sharing tags) toward a node: straight over an UP
 * link, else through the next hop; a hop whose send fails is marked and the next one tried.
 * A broadcast is N unicasts with the destination rewritten.
 */
export class PacketRouter {
  readonly #host: RouterHost;

  constructor(host: RouterHost) {
    this.#host = host;
  }

  /**
   * Send `raw` (a routed packet whose trailer already names dst) toward dst: directly if the
   * link is UP, else via the next hop; a failed hop is marked and another one tried.
   */
  route(cl: ClusterState, dst: number, raw: Buffer, bulk = false): SendResult {
    for (let attempt = 0; attempt <= cl.nodes.size; attempt++) {
      this.#host.settle();
      const target = cl.nodes.get(dst);
      if (target === undefined || target.nextHop === undefined) return SendResult.UNREACHABLE;
      const hop = cl.nodes.get(target.nextHop);
      if (hop === undefined) return SendResult.UNREACHABLE;
      if (this.#host.send(cl, hop, raw, false, bulk)) return SendResult.SENT;
    }
    return SendResult.SEND_ERROR;
  }

  sendRouted(clusterId: number, dst: number, p: RoutedPacket, bulk = false): SendResult {
    const cl = this.#host.clusters.get(clusterId);
    if (cl === undefined) return SendResult.UNREACHABLE;
    if (!cl.enabled) return SendResult.LOCAL_DISABLED;
    const r = this.route(
      cl,
      dst,
      encodePacket({ ...p, cluster: clusterId, src: this.#host.myNodeId, dst } as RoutedPacket),
      bulk,
    );
    this.#host.settle();
    return r;
  }

  /**
   * The packet `make(dst)` to every enabled node (none to a node it makes nothing for): SENT if
   * one send succeeded.
   */
  broadcast(clusterId: number, make: (dst: number) => RoutedPacket | undefined): SendResult {
    const cl = this.#host.clusters.get(clusterId);
    if (cl === undefined) return SendResult.UNREACHABLE;
    if (!cl.enabled) return SendResult.LOCAL_DISABLED;
    let sent = 0;
    let down = 0;
    let targets = 0;
    for (const n of [...cl.nodes.values()]) {
      if (!n.enabled) continue;
      const p = make(n.id);
      if (p === undefined) continue;
      targets++;
      const r = this.sendRouted(clusterId, n.id, p);
      if (r === SendResult.SENT) sent++;
      else if (r === SendResult.UNREACHABLE) down++;
    }
    if (sent > 0 || targets === 0) return SendResult.SENT;
    return down === targets ? SendResult.UNREACHABLE : SendResult.SEND_ERROR;
  }

  /** Can another sync-stream packet toward dst be queued on the link to its next hop? */
  bulkRoom(clusterId: number, dst: number): boolean {
    const cl = this.#host.clusters.get(clusterId);
    if (cl === undefined) return true;
    this.#host.settle();
    const hopId = cl.nodes.get(dst)?.nextHop;
    const hop = hopId === undefined ? undefined : cl.nodes.get(hopId);
    // unreachable: let the send fail so the stream ends
    if (hop === undefined) return true;
    return this.#host.transport.bulkRoom?.(hop.addr) ?? true;
  }
}
