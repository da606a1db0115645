import type { RoutedPacket } from '../bin/packet.js';
import type { NodeStateEvent } from '../events.js';
import type { CapHandlersForSync } from '../sync/capability.js';
import type { PacketRouter, SendResult } from './router.js';

/** A module's view of a capability packet (trailer removed, body opaque). */
export interface ModulePacket {
  clusterId: number;
  srcId: number;
  version: number;
  type: number;
  body: Buffer;
}

/** What a module registers for its capability: its packets, node events, and its sync side. */
export interface CapabilityHandlers extends CapHandlersForSync {
  onPacket(packet: ModulePacket): void;
  onEvent?(event: NodeStateEvent): void;
}

/** A module packet as a module sends it (the clusterer adds cluster, source and destination). */
export interface ModulePayload {
  capability: string;
  version: number;
  type: number;
  body: Buffer;
}

/** What sending messages needs: who I am, the time (for tags), and the router. */
export interface MessagesHost extends Pick<PacketRouter, 'sendRouted' | 'broadcast'> {
  readonly myNodeId: number;
  now(): number;
}

/**
 * What modules and scripts send to other nodes (the clusterer API of OpenSIPS): module
 * packets (`send_to`, `send_all`), GENERIC_MSG requests and replies with OpenSIPS-style tags
 * (`cluster_send_req`, `cluster_broadcast_req`, `cluster_send_rpl`), MI commands, and any
 * clusterer-extra packet.
 */
export class ClusterMessages {
  readonly #host: MessagesHost;
  #tagCounter = 0;

  constructor(host: MessagesHost) {
    this.#host = host;
  }

  /** Send a module packet to one node (routed). */
  sendTo(clusterId: number, dst: number, p: ModulePayload): SendResult {
    return this.#host.sendRouted(clusterId, dst, {
      kind: 'module',
      cluster: clusterId,
      src: this.#host.myNodeId,
      dst,
      ...p,
    });
  }

  /**
   * Send a module packet to every enabled node: N unicasts with the destination rewritten, the
   * same payload for all or the one `p(dst)` makes for each (nothing to a node it makes none for).
   */
  sendAll(
    clusterId: number,
    p: ModulePayload | ((dst: number) => ModulePayload | undefined),
  ): SendResult {
    return this.#host.broadcast(clusterId, (dst) => {
      const payload = typeof p === 'function' ? p(dst) : p;
      if (payload === undefined) return undefined;
      return { kind: 'module', cluster: clusterId, src: this.#host.myNodeId, dst, ...payload };
    });
  }

  /** A tag as OpenSIPS makes it: `<cluster>-<node>-` plus 24 characters. */
  newTag(clusterId: number): string {
    const me = this.#host.myNodeId;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxy123456';
    let x = (this.#host.now() * 1000 + this.#tagCounter++ * 7919 + me * 104729) >>> 0;
    let s = '';
    for (let i = 0; i < 24; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      s += alphabet[(x >>> 16) % alphabet.length];
    }
    return `${clusterId}-${me}-${s}`;
  }

  /** `cluster_send_req`: a GENERIC_MSG request; the reply comes back as a `reply` event. */
  sendRequest(
    clusterId: number,
    dst: number,
    msg: string,
    tag = this.newTag(clusterId),
  ): { result: SendResult; tag: string } {
    const result = this.#host.sendRouted(
      clusterId,
      dst,
      this.#genericMsg(clusterId, dst, true, tag, msg),
    );
    return { result, tag };
  }

  /** `cluster_broadcast_req`. */
  broadcastRequest(
    clusterId: number,
    msg: string,
    tag = this.newTag(clusterId),
  ): { result: SendResult; tag: string } {
    const result = this.#host.broadcast(clusterId, (dst) =>
      this.#genericMsg(clusterId, dst, true, tag, msg),
    );
    return { result, tag };
  }

  /** `cluster_send_rpl`: answer a request, echoing its tag. */
  sendReply(clusterId: number, dst: number, tag: string, msg: string): SendResult {
    return this.#host.sendRouted(clusterId, dst, this.#genericMsg(clusterId, dst, false, tag, msg));
  }

  /** A GENERIC_MSG from this node: a request, or a reply echoing the request's tag. */
  #genericMsg(
    clusterId: number,
    dst: number,
    request: boolean,
    tag: string,
    msg: string,
  ): RoutedPacket {
    return {
      kind: 'generic_msg',
      cluster: clusterId,
      src: this.#host.myNodeId,
      dst,
      request,
      tag,
      msg,
    };
  }

  /** Send an MI_CMD (string params only, at most 10). */
  sendMiCommand(clusterId: number, dst: number, command: string, params: string[]): SendResult {
    return this.#host.sendRouted(clusterId, dst, {
      kind: 'mi_cmd',
      cluster: clusterId,
      src: this.#host.myNodeId,
      dst,
      command,
      params,
    });
  }

  /** Send any clusterer-extra packet (sync, sharing tags) toward dst. */
  sendExtra(clusterId: number, dst: number, p: RoutedPacket): SendResult {
    return this.#host.sendRouted(clusterId, dst, p);
  }
}
