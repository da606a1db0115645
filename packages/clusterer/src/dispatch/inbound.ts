import type { EventEmitter } from 'node:events';
import type { Logger } from '@sipedge/core';
import type { Admission } from '../auth/admission.js';
import { isHelloPacket } from '../auth/hello.js';
import {
  type ClusterPacket,
  decodeHeader,
  type RoutedPacket,
  tryDecodePacket,
} from '../bin/packet.js';
import type { ClustererEvents } from '../events.js';
import type { Links } from '../links/links.js';
import type { CapabilityHandlers, ModulePacket } from '../messaging/messages.js';
import { type PacketRouter, SendResult } from '../messaging/router.js';
import type { ClusterState } from '../nodes/clusters.js';
import type { Discovery } from '../nodes/discovery.js';
import type { Membership } from '../nodes/membership.js';
import { LinkState, type RemoteNode } from '../nodes/remote-node.js';
import type { PacketSource } from '../runtime.js';
import type { SyncEngine } from '../sync/engine.js';
import {
  peekBrokenSync,
  SIPEDGE_SYNC_CAP,
  SIPEDGE_SYNC_COMPARE,
  SIPEDGE_SYNC_DIGEST,
  SIPEDGE_SYNC_STANDING,
  SIPEDGE_SYNC_STREAM_START,
} from '../sync/wire.js';
import type { SharingTags } from '../tags/sharing-tags.js';
import type { Flooding } from '../topology/flooding.js';

/** Where received packets go: each part of the clusterer by the packets it handles. */
export interface InboundHost {
  readonly myNodeId: number;
  readonly dbMode: 0 | 1;
  readonly rerouting: boolean;
  readonly log: Logger;
  readonly clusters: ReadonlyMap<number, ClusterState>;
  count(name: string, n?: number): void;
  /** Recompute the routes that changed (after every packet). */
  settle(): void;
  /** The local capability a module registered under `name`. */
  capability(name: string): CapabilityHandlers | undefined;
  /** Where generic messages, MI commands and other extra packets are announced. */
  readonly events: Pick<EventEmitter<ClustererEvents>, 'emit'>;
  readonly links: Pick<Links, 'onPing' | 'onPong' | 'syncAsPong'>;
  readonly flooding: Pick<Flooding, 'onLsUpdate' | 'onFullTop' | 'onCapUpdate'>;
  readonly discovery: Pick<Discovery, 'onUnknown' | 'onUnknownId'>;
  readonly membership: Pick<Membership, 'removeLocally'>;
  readonly router: Pick<PacketRouter, 'route'>;
  readonly sync: Pick<
    SyncEngine,
    | 'hold'
    | 'onSyncRequest'
    | 'onSync'
    | 'onSyncEnd'
    | 'onBrokenSync'
    | 'onDigest'
    | 'onCompare'
    | 'onStreamStart'
    | 'onStanding'
  >;
  readonly tags: Pick<SharingTags, 'onActive'>;
  readonly admission: Pick<Admission, 'onHello' | 'authenticated' | 'sender'>;
}

/**
 * Every received BIN packet: decoded, checked (known cluster and node, nothing disabled, each
 * drop counted as `drop_<reason>`; its sender admitted by `Admission`, each refusal counted as
 * `refused_<reason>`), then handed to the part of the clusterer it is for, or forwarded toward
 * its destination.
 */
export class InboundPackets {
  readonly #host: InboundHost;

  constructor(host: InboundHost) {
    this.#host = host;
  }

  /** One whole BIN packet from the transport. Never throws. */
  receive(raw: Buffer, source: PacketSource): void {
    this.#host.count('recv_packets');
    if (isHelloPacket(raw)) {
      this.#host.admission.onHello(raw, source);
      return;
    }
    const r = tryDecodePacket(raw);
    if (!r.ok) {
      this.#host.count(`drop_decode_${r.error.reason}`);
      this.#brokenSync(raw);
      return;
    }
    try {
      this.#handle(r.packet, raw, source);
    } catch (e) {
      this.#host.count('drop_handler_error');
      this.#host.log.error({ err: e }, 'error handling BIN packet');
    }
    this.#host.settle();
  }

  /** An undecodable SYNC (broken chunk framing) ends the sync it belongs to at once. */
  #brokenSync(raw: Buffer): void {
    try {
      const s = peekBrokenSync(raw);
      if (s === undefined || s.dst !== this.#host.myNodeId) return;
      this.#host.sync.onBrokenSync(s.cluster, s.src, s.capability);
    } catch {
      // nothing more to learn from it
    }
  }

  #drop(reason: string): undefined {
    this.#host.count(`drop_${reason}`);
  }

  #handle(p: ClusterPacket, raw: Buffer, source: PacketSource): undefined {
    const host = this.#host;
    if (!host.admission.authenticated(source)) return;
    if (
      p.kind === 'module' &&
      host.capability(p.capability) === undefined &&
      p.capability !== SIPEDGE_SYNC_CAP
    )
      return this.#drop('unknown_capability');
    if (p.src === host.myNodeId) return this.#drop('from_self');
    const cl = host.clusters.get(p.cluster);
    if (cl === undefined) return this.#drop('unknown_cluster');
    if (!cl.enabled) return this.#drop('local_disabled');
    const src = cl.nodes.get(p.src);
    if (src === undefined) {
      if (host.dbMode === 0 && (p.kind === 'ping' || p.kind === 'node_description')) {
        return host.discovery.onUnknown(cl, p, source);
      }
      return this.#drop('unknown_node');
    }
    if (!host.admission.sender(cl, p, source)) return;
    if (!src.enabled) return this.#drop('node_disabled');
    if (p.kind === 'sync' || p.kind === 'sync_end') host.links.syncAsPong(src, source.host);
    switch (p.kind) {
      case 'ping':
        return host.links.onPing(cl, src, p.reqNodeList);
      case 'pong':
        return host.links.onPong(cl, src, p.nodes);
      case 'ls_update':
        return host.flooding.onLsUpdate(cl, p);
      case 'full_top_update':
        return host.flooding.onFullTop(cl, src, p);
      case 'unknown_id':
        return host.discovery.onUnknownId(cl, src);
      case 'node_description':
        return this.#drop('known_description');
      case 'cap_update':
        return host.flooding.onCapUpdate(cl, src, p);
      default:
        return this.#onRouted(cl, src, p, raw, source);
    }
  }

  #onRouted(
    cl: ClusterState,
    src: RemoteNode,
    p: RoutedPacket,
    raw: Buffer,
    source: PacketSource,
  ): undefined {
    const host = this.#host;
    // any packet straight from a node we consider DOWN restarts pinging it
    if (src.link === LinkState.DOWN && source.host === src.addr.host)
      src.link = LinkState.RESTART_PINGING;
    if (p.dst !== host.myNodeId) {
      if (!host.rerouting && p.kind !== 'module') return this.#drop('rerouting_disabled');
      const dst = cl.nodes.get(p.dst);
      if (dst === undefined) return this.#drop('unknown_destination');
      if (!host.rerouting && dst.link !== LinkState.UP) return this.#drop('rerouting_disabled');
      host.count('forwarded');
      if (host.router.route(cl, p.dst, raw) !== SendResult.SENT) this.#drop('forward_failed');
      return;
    }
    switch (p.kind) {
      case 'module': {
        if (p.capability === SIPEDGE_SYNC_CAP) {
          if (p.type === SIPEDGE_SYNC_DIGEST) host.sync.onDigest(cl.id, p.src, p.body);
          else if (p.type === SIPEDGE_SYNC_COMPARE) host.sync.onCompare(cl.id, p.src, p.body);
          else if (p.type === SIPEDGE_SYNC_STREAM_START)
            host.sync.onStreamStart(cl.id, p.src, p.body);
          else if (p.type === SIPEDGE_SYNC_STANDING) host.sync.onStanding(cl.id, p.src, p.body);
          return;
        }
        const cap = host.capability(p.capability);
        if (cap === undefined) return;
        const mp: ModulePacket = {
          clusterId: cl.id,
          srcId: p.src,
          version: p.version,
          type: p.type,
          body: p.body,
        };
        if (host.sync.hold(p.capability, cl.id, { deliver: () => cap.onPacket(mp) }))
          return void host.count('sync_held_packets');
        cap.onPacket(mp);
        return;
      }
      case 'sync_req':
        host.sync.onSyncRequest(cl.id, p.src, p.capability);
        return;
      case 'sync':
        host.sync.onSync(cl.id, p.src, decodeHeader(raw).version, p);
        return;
      case 'sync_end':
        host.sync.onSyncEnd(cl.id, p.src, decodeHeader(raw).version, p.capability, p.chunks);
        return;
      case 'shtag_active':
        host.tags.onActive(cl.id, p.src, p.tag);
        return;
      case 'generic_msg':
        host.events.emit(p.request ? 'request' : 'reply', {
          clusterId: cl.id,
          srcId: p.src,
          msg: p.msg,
          tag: p.tag,
        });
        return;
      case 'mi_cmd':
        host.events.emit('mi_cmd', {
          clusterId: cl.id,
          srcId: p.src,
          command: p.command,
          params: p.params,
        });
        return;
      case 'remove_node':
        if (host.dbMode !== 0) return this.#drop('remove_in_db_mode');
        host.membership.removeLocally(cl, p.target);
        return;
      default:
        host.events.emit('extra', { clusterId: cl.id, packet: p });
    }
  }
}
