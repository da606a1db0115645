import type { ClusterPacket } from '../bin/packet.js';
import type { ClusterState } from '../nodes/clusters.js';
import { LinkState, type RemoteNode } from '../nodes/remote-node.js';
import type { PacketSource } from '../runtime.js';
import type { LinkAuth } from './link-auth.js';
import type { RefusalReason, Refusals } from './refusals.js';

/** What admission needs: the clusters, the shared-secret check, and where refusals go. */
export interface AdmissionHost {
  readonly myNodeId: number;
  readonly clusters: ReadonlyMap<number, ClusterState>;
  /** Set when `auth_secret` is. */
  readonly auth: LinkAuth | undefined;
  readonly refusals: Refusals;
  count(name: string, n?: number): void;
  /** The name a node's certificate must carry (`bins:`): its `tls_name`, else its host. */
  tlsName(node: RemoteNode): string;
}

/**
 * Who may speak on a connection (docs/protocols/bin-clusterer.md §9). Every packet names its
 * direct sender: the source of a PING, PONG or UNKNOWN_ID, the last hop of a flooded update's
 * path, and for a routed packet the node its connection was admitted for (else its source if
 * that node lives at the connection's address, else the one node that does). That node must
 * be configured at the connection's address; the first such packet admits the connection for
 * it (with `bins:`, once its certificate names it), and a later packet from anyone else on the
 * same connection is refused. With `auth_secret`, an accepted connection must first say a
 * valid hello. A routed packet's originator cannot be checked beyond its last hop: only
 * MI_CMD and REMOVE_NODE relayed for a node I hold a direct UP link to are refused.
 */
export class Admission {
  readonly #host: AdmissionHost;

  constructor(host: AdmissionHost) {
    this.#host = host;
  }

  #refuse(
    source: PacketSource,
    reason: RefusalReason,
    detail: Record<string, unknown>,
    close = true,
  ): false {
    this.#host.refusals.refuse(reason, source.host, detail);
    if (close) source.connection?.close();
    return false;
  }

  /** A `sipedge-auth` hello: checked and, when good, the connection is authenticated. */
  onHello(raw: Buffer, source: PacketSource): void {
    const auth = this.#host.auth;
    if (auth === undefined) return void this.#host.count('drop_hello_without_auth');
    const r = auth.check(raw, this.#host.myNodeId);
    if (!r.ok) return void this.#refuse(source, r.reason, {});
    const conn = source.connection;
    if (conn?.authenticatedAs !== undefined && conn.authenticatedAs !== r.src) {
      return void this.#refuse(source, 'hop_changed', { was: conn.authenticatedAs, node: r.src });
    }
    let known: RemoteNode | undefined;
    for (const cl of this.#host.clusters.values()) {
      const n = cl.nodes.get(r.src);
      if (n === undefined) continue;
      known = n;
      if (n.addr.host !== source.host)
        return void this.#refuse(source, 'wrong_address', { node: r.src, hello: true });
    }
    if (r.oldSecret) this.#host.count('auth_old_secret');
    this.#host.count('auth_hellos');
    if (conn === undefined) return;
    conn.authenticatedAs = r.src;
    // a node not known yet (db_mode 0 discovery) is admitted by its first packet once known
    if (known !== undefined) this.#admit(known, source);
  }

  /**
   * With `auth_secret`, may this connection send anything but a hello? (Checked before
   * discovery, which must not run for unauthenticated peers either.)
   */
  authenticated(source: PacketSource): boolean {
    const conn = source.connection;
    if (this.#host.auth === undefined || conn === undefined || conn.outbound) return true;
    if (conn.authenticatedAs !== undefined) return true;
    return this.#refuse(source, 'unauthenticated', {});
  }

  /**
   * Check the direct sender of a packet from a node of `cl` (known source id). False: the
   * packet was refused (counted, logged, and the connection closed when it is the peer that
   * is wrong).
   */
  sender(cl: ClusterState, p: ClusterPacket, source: PacketSource): boolean {
    const conn = source.connection;
    const hopId = this.#hopOf(cl, p, source);
    const was = conn?.nodeId ?? conn?.authenticatedAs;
    if (was !== undefined && hopId !== undefined && was !== hopId) {
      return this.#refuse(source, 'hop_changed', { was, node: hopId, kind: p.kind });
    }
    const hop = hopId === undefined ? undefined : cl.nodes.get(hopId);
    if (hop === undefined || hop.addr.host !== source.host) {
      return this.#refuse(source, 'wrong_address', { node: hopId ?? p.src, kind: p.kind });
    }
    if (conn !== undefined && conn.nodeId === undefined && !this.#admit(hop, source)) return false;
    if ((p.kind === 'mi_cmd' || p.kind === 'remove_node') && p.src !== hop.id) {
      // a node I hold a direct UP link to sends to me directly: a relayed one is not its own
      const origin = cl.nodes.get(p.src);
      if (origin?.link === LinkState.UP) {
        return this.#refuse(source, 'relayed_control', { node: p.src, via: hop.id }, false);
      }
    }
    return true;
  }

  #admit(node: RemoteNode, source: PacketSource): boolean {
    const conn = source.connection;
    if (conn === undefined) return true;
    if (conn.namesPeer !== undefined) {
      const name = this.#host.tlsName(node);
      if (!conn.namesPeer(name))
        return this.#refuse(source, 'certificate_name', { node: node.id, expected: name });
    }
    conn.admit(node.id);
    return true;
  }

  /** The node that handed me this packet (see the class note); undefined when none fits. */
  #hopOf(cl: ClusterState, p: ClusterPacket, source: PacketSource): number | undefined {
    switch (p.kind) {
      case 'ping':
      case 'pong':
      case 'unknown_id':
        return p.src;
      case 'ls_update':
      case 'full_top_update':
      case 'cap_update':
      case 'node_description':
        return p.path[p.path.length - 1] ?? p.src;
    }
    const admitted = source.connection?.nodeId;
    if (admitted !== undefined) return admitted;
    if (cl.nodes.get(p.src)?.addr.host === source.host) return p.src;
    let only: number | undefined;
    for (const n of cl.nodes.values()) {
      if (n.addr.host !== source.host) continue;
      if (only !== undefined) return undefined;
      only = n.id;
    }
    return only;
  }
}
