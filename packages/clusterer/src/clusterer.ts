// Over 500 lines: the façade keeps the whole module API (one method per clusterer API call) in one place.
import { EventEmitter } from 'node:events';
import { type Clock, noopLogger, systemClock, type TimerHandle } from '@sipedge/core';
import { LinkSecurity } from './auth/link-security.js';
import type { Refusals } from './auth/refusals.js';
import type { RoutedPacket } from './bin/packet.js';
import { InboundPackets } from './dispatch/inbound.js';
import { ClustererConfigError } from './errors.js';
import type { ClustererEvents, NodeStateEvent } from './events.js';
import { Links, type LinksHost } from './links/links.js';
import { Capabilities } from './messaging/capabilities.js';
import type { ReplicationChannel } from './messaging/channel.js';
import {
  type CapabilityHandlers,
  ClusterMessages,
  type MessagesHost,
  type ModulePayload,
} from './messaging/messages.js';
import { PacketRouter, type RouterHost, type SendResult } from './messaging/router.js';
import {
  anyReachable,
  type ClusterState,
  clusterQueries,
  isNodeHost,
  loadClusters,
  reachableNodes,
  syncedPeers,
} from './nodes/clusters.js';
import { Discovery, type DiscoveryHost } from './nodes/discovery.js';
import { Membership, type MembershipHost } from './nodes/membership.js';
import type { BinAddress } from './nodes/node-info.js';
import { type LinkState, linkLabel, type NodeView, type RemoteNode } from './nodes/remote-node.js';
import type { NodeStore } from './nodes/store.js';
import { type ClustererOptions, linkTimers, nodeConfigs } from './options.js';
import type { PacketSource } from './runtime.js';
import type { CapabilityOptions, CapStatus, CapStatusEvent } from './sync/capability.js';
import { SyncEngine } from './sync/engine.js';
import type { SyncHost } from './sync/host.js';
import { SIPEDGE_SYNC_CAP } from './sync/wire.js';
import {
  parseTagKey,
  SHTAG_CLAIM_CAP,
  SharingTags,
  type ShtagChangeEvent,
  type ShtagHost,
  type ShtagState,
} from './tags/sharing-tags.js';
import { Flooding, type FloodingHost } from './topology/flooding.js';
import { Reachability, type ReachabilityHost } from './topology/reachability.js';

/** What the parts of a Clusterer need from it, each seeing only its own slice. */
type PartsHost = ReachabilityHost &
  LinksHost &
  FloodingHost &
  DiscoveryHost &
  RouterHost &
  MessagesHost &
  MembershipHost &
  SyncHost &
  ShtagHost;

/**
 * The clusterer of one process: nodes and links, pings, link-state topology and routing,
 * discovery, capabilities and generic messages, for every cluster this node is in. Runs on
 * an injected clock and transport; call `start()` to begin pinging.
 *
 * A façade: it holds the clusters and the registered capabilities and wires the parts —
 * links/ (pings, link states), topology/ (flooding, routes), nodes/ (discovery, membership),
 * messaging/ (routed sends), dispatch/ (received packets), sync/ and tags/.
 */
export class Clusterer extends EventEmitter<ClustererEvents> implements ReplicationChannel {
  readonly clusters = new Map<number, ClusterState>();
  readonly myNodeId: number;
  readonly dbMode: 0 | 1;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly nodeTimeoutMs: number;
  readonly rerouting: boolean;
  /** Counters: packets by kind, drops by reason, events. */
  readonly counters = new Map<string, number>();
  /** Capability sync states and the sync protocol. */
  readonly sync: SyncEngine;
  /** Sharing tags. */
  readonly shtags: SharingTags;
  readonly #clock: Clock;
  readonly #store: NodeStore | undefined;
  readonly #capabilities: Capabilities;
  readonly #tickMs: number;
  #timer: TimerHandle | undefined;
  #running = false;
  readonly #reachability: Reachability;
  readonly #links: Links;
  readonly #flooding: Flooding;
  readonly #discovery: Discovery;
  readonly #membership: Membership;
  readonly #router: PacketRouter;
  readonly #messages: ClusterMessages;
  readonly #inbound: InboundPackets;
  /** Refused peers: counted as `refused_<reason>`, logged once per peer and reason a minute. */
  readonly refusals: Refusals;

  constructor(options: ClustererOptions) {
    super();
    const transport = options.transport;
    const clock = options.clock ?? systemClock;
    const log = options.logger ?? noopLogger;
    this.#clock = clock;
    this.dbMode = options.dbMode ?? 1;
    this.#store = options.store;
    const timers = linkTimers(options);
    this.pingIntervalMs = timers.pingIntervalMs;
    this.pingTimeoutMs = timers.pingTimeoutMs;
    this.nodeTimeoutMs = timers.nodeTimeoutMs;
    this.#tickMs = timers.tickMs;
    this.rerouting = options.enableRerouting ?? true;
    const [myNodeId, configs] = nodeConfigs(options, this.dbMode);
    this.myNodeId = myNodeId;
    loadClusters(this.clusters, configs, myNodeId);
    const security = new LinkSecurity({
      myNodeId,
      clusters: this.clusters,
      authSecret: options.authSecret,
      authWindowMs: options.authWindowMs,
      tlsNames: options.tlsNames,
      log,
      clock,
      count: (name, n) => this.#count(name, n),
    });
    this.refusals = security.refusals;

    // One set of components satisfies the narrow host interface of every part.
    const { dbMode, rerouting, clusters } = this;
    const settle = (): void => this.#reachability.settle();
    const parts: PartsHost = {
      myNodeId,
      dbMode,
      rerouting,
      clusters,
      transport,
      clock,
      log,
      store: this.#store,
      now: () => clock.now(),
      count: (name: string, n?: number) => this.#count(name, n),
      settle,
      markDirty: (cl: ClusterState) => this.#reachability.markDirty(cl),
      nodeState: (id: number, node: number, up: boolean) => this.#nodeState(id, node, up),
      // links
      send: (cl: ClusterState, node: RemoteNode, p: Buffer, internal: boolean, bulk?: boolean) =>
        this.#links.send(cl, node, p, internal, bulk),
      setLink: (cl: ClusterState, node: RemoteNode, state: LinkState) =>
        this.#links.setLink(cl, node, state),
      linkUp: (cl, node) => this.#flooding.linkUp(cl, node),
      linkDown: (cl, node) => this.#flooding.linkDown(cl, node),
      resendTopology: (cl, node) => this.#flooding.resendTopology(cl, node),
      // topology and discovery
      flood: (cl, p, path) => this.#flooding.flood(cl, p, path),
      discover: (cl, id, d) => this.#discovery.add(cl, id, d),
      myCaps: (cl) => this.#capabilities.entry(cl),
      capsLearnt: (cl) => {
        this.sync.remoteCaps(cl.id);
        this.shtags.capsLearnt(cl.id);
      },
      // routed sends
      sendRouted: (id: number, dst: number, p: RoutedPacket, bulk?: boolean) =>
        this.#router.sendRouted(id, dst, p, bulk),
      broadcast: (id: number, make: (dst: number) => RoutedPacket) =>
        this.#router.broadcast(id, make),
      reachable: (id: number, node: number) => this.getNextHop(id, node) !== undefined,
      // sync and sharing tags
      ...clusterQueries(clusters, settle, (cap) => this.isSynced(cap)),
      sendBulk: (id, dst, p) => this.#router.sendRouted(id, dst, p, true),
      ...(transport.bulkRoom !== undefined
        ? { bulkRoom: (id: number, dst: number) => this.#router.bulkRoom(id, dst) }
        : {}),
      advertise: (id) => this.#advertiseCaps(id),
      emitStatus: (e) => this.emit('cap_status', e),
      emitDonorless: (e) => this.emit('donorless_sync', e),
      emitChange: (e) => this.emit('shtag_changed', e),
    };
    this.#reachability = new Reachability(parts);
    this.#links = new Links(parts, timers);
    this.#flooding = new Flooding(parts);
    this.#discovery = new Discovery(parts);
    this.#router = new PacketRouter(parts);
    this.#messages = new ClusterMessages(parts);
    this.#membership = new Membership(parts);
    this.sync = new SyncEngine(parts, log, clock, options.sync);
    this.shtags = new SharingTags(parts, log, options.shtagFailover);
    this.#capabilities = new Capabilities({
      myNodeId,
      clusters,
      sync: this.sync,
      mark: options.sipedgeMark ?? true,
    });
    this.#inbound = new InboundPackets({
      ...parts,
      capability: (name) => this.#capabilities.get(name),
      events: this,
      links: this.#links,
      flooding: this.#flooding,
      discovery: this.#discovery,
      membership: this.#membership,
      router: this.#router,
      sync: this.sync,
      tags: this.shtags,
      admission: security.admission,
    });
    this.shtags.configure(options.sharingTags ?? []);
    if (this.shtags.failoverEnabled) {
      this.registerCapability(SHTAG_CLAIM_CAP, {
        onPacket: (p) => this.shtags.onClaim(p.clusterId, p.srcId, p.type, p.body),
      });
    }
    transport.setHandler({
      onPacket: (p, s) => this.receive(p, s),
      onPeerLost: (to) => this.#peerLost(to),
      onDrain: () => this.sync.pump(),
      ...security.transportHooks(),
    });
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.sync.ready();
    // the first pings go out at once, not a tick (up to ping_interval) after start
    this.#schedule(0);
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  destroy(): void {
    this.stop();
    this.removeAllListeners();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  #schedule(delay = this.#tickMs): void {
    if (!this.#running) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.tick();
      this.#schedule();
    }, delay);
  }

  /** db_mode=1: reload the node table; every link restarts and learned state is dropped. */
  reload(): void {
    if (this.dbMode !== 1 || this.#store === undefined)
      throw new ClustererConfigError('Non-DB mode');
    const configs = this.#store.load(this.myNodeId);
    const old = new Map(this.clusters);
    this.clusters.clear();
    loadClusters(this.clusters, configs, this.myNodeId);
    // report nodes that were reachable and are gone or restarted
    for (const [id, cl] of old) {
      for (const n of cl.nodes.values()) {
        if (n.nextHop !== undefined) this.#nodeState(id, n.id, false);
      }
    }
  }

  /** One heartbeat tick: links, then sync and sharing-tag timers. */
  tick(): void {
    this.#links.tick(this.clusters.values());
    this.#reachability.settle();
    this.sync.tick();
    this.shtags.tick();
    this.#reachability.settle();
  }

  /** Entry point for one whole BIN packet from the transport. Never throws. */
  receive(raw: Buffer, source: PacketSource): void {
    this.#inbound.receive(raw, source);
  }

  /** Adds to one of the engine's counters (a clusterer statistic), for the parts built around it. */
  count(name: string, n = 1): void {
    this.#count(name, n);
  }

  // ---------------------------------------------------------------- wiring

  #count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  #peerLost(to: BinAddress): void {
    for (const cl of this.clusters.values()) {
      for (const n of cl.nodes.values()) {
        if (n.addr.host === to.host && n.addr.port === to.port && n.addr.proto === to.proto) {
          this.sync.connectionLost(cl.id, n.id);
          this.#links.sendFailed(cl, n);
        }
      }
    }
    this.#reachability.settle();
  }

  /** A node became reachable or unreachable: sync, modules, listeners, sharing tags. */
  #nodeState(clusterId: number, nodeId: number, up: boolean): void {
    this.#count(up ? 'node_up_events' : 'node_down_events');
    const ev: NodeStateEvent = { clusterId, nodeId, up };
    this.sync.nodeState(clusterId, nodeId, up);
    this.#capabilities.nodeEvent(ev);
    this.emit('node_state', ev);
    if (up) this.shtags.nodeUp(clusterId, nodeId);
    else this.shtags.nodeDown(clusterId, nodeId);
  }

  /** Send my capability states to every UP neighbour (flooded on by them). */
  #advertiseCaps(clusterId: number): void {
    const cl = this.clusters.get(clusterId);
    if (cl !== undefined) this.#flooding.advertiseCaps(cl);
  }

  // ---------------------------------------------------------------- nodes

  /** Is `host` the address of a node of any of my clusters (for TcpBinTransport `acceptFrom`)? */
  isKnownHost(host: string): boolean {
    for (const id of this.clusters.keys()) if (this.checkAddr(id, host)) return true;
    return false;
  }

  /** Is `host` the address of any node of the cluster (the `auth_check` of BIN)? */
  checkAddr(clusterId: number, host: string): boolean {
    const cl = this.clusters.get(clusterId);
    return cl !== undefined && isNodeHost(cl, host);
  }

  /**
   * Does the node advertise `sipedge-sync`, i.e. is it a sipedge node (OpenSIPS nodes never
   * receive sipedge-only packets)? False until its first CAP_UPDATE arrives.
   */
  speaksSipedge(clusterId: number, nodeId: number): boolean {
    return this.clusters.get(clusterId)?.nodes.get(nodeId)?.caps.get(SIPEDGE_SYNC_CAP) === true;
  }

  /** Did the node advertise its capabilities without the `sipedge-sync` mark (OpenSIPS)? */
  isOpenSipsNode(clusterId: number, nodeId: number): boolean {
    const caps = this.clusters.get(clusterId)?.nodes.get(nodeId)?.caps;
    return caps !== undefined && caps.size > 0 && !caps.has(SIPEDGE_SYNC_CAP);
  }

  /** Is any node of the cluster reachable now? (Cheap: lets a module skip encoding a send.) */
  hasReachable(clusterId: number): boolean {
    const cl = this.clusters.get(clusterId);
    if (cl === undefined) return false;
    this.#reachability.settle();
    return anyReachable(cl);
  }

  /** Reachable nodes of a cluster (the clusterer API `get_nodes`). */
  getNodes(clusterId: number): NodeView[] {
    const cl = this.clusters.get(clusterId);
    if (cl === undefined) return [];
    this.#reachability.settle();
    return reachableNodes(cl);
  }

  getNextHop(clusterId: number, nodeId: number): number | undefined {
    this.#reachability.settle();
    return this.clusters.get(clusterId)?.nodes.get(nodeId)?.nextHop;
  }

  /**
   * `clusterer_set_status`: enable or disable a remote node, or (nodeId omitted) the local
   * node. Disabling the local node makes it silent: every link DOWN, all traffic ignored.
   */
  setState(clusterId: number, enabled: boolean, nodeId?: number): void {
    this.#membership.setState(clusterId, enabled, nodeId);
  }

  /** `clusterer_remove_node` (db_mode=0): tell every node, then forget it here. */
  removeNode(clusterId: number, nodeId: number): void {
    this.#membership.removeNode(clusterId, nodeId);
  }

  /** Link state label as `clusterer_list` shows it. */
  static linkLabel(s: LinkState): 'Up' | 'Down' | 'Probe' {
    return linkLabel(s);
  }

  // ---------------------------------------------------------------- capabilities and sync

  /**
   * Register a module capability: its BIN packets and node events reach `handlers`. With
   * `startupSync` it starts "not synced" and pulls the whole dataset from a donor (its
   * `onSyncRequest` on the donor, `onSyncStart`/`onSyncChunk`/`onSyncDone` here); replication
   * packets that arrive meanwhile are held and replayed in order once synced.
   */
  registerCapability(
    name: string,
    handlers: CapabilityHandlers,
    options: CapabilityOptions = {},
  ): void {
    const clusterId = this.#capabilities.register(name, handlers, options);
    if (this.#running) this.#advertiseCaps(clusterId);
  }

  /** Names of the registered local capabilities, in registration order. */
  capabilityNames(): string[] {
    return this.#capabilities.names();
  }

  /** A capability's sync status (-3 not synced, -2 pending, -1 in progress, 1 synced). */
  capabilityStatus(
    name: string,
  ): { clusterId: number; status: CapStatus; enabled: boolean; report: string } | undefined {
    const c = this.sync.get(name);
    if (c === undefined) return undefined;
    return { clusterId: c.clusterId, status: c.status, enabled: c.enabled, report: c.lastReport };
  }

  /** Readiness: the capability holds the whole dataset (status ≥ 0). */
  isSynced(name: string): boolean {
    return this.sync.get(name)?.ok === true;
  }

  /**
   * May a write to this capability's data, accepted now, be acknowledged? Yes when this node
   * holds the whole dataset (synced), reaches another node to send the write to at once, or
   * is the cluster's only node. No for a node still waiting for its first sync with nobody
   * reachable (the first moments of a cold start): a write it acknowledged would live on this
   * node alone. A capability that is not registered is not replicated: yes.
   */
  mayAcknowledge(name: string): boolean {
    const c = this.sync.get(name);
    if (c === undefined || c.ok) return true; // not replicated here, or holding it all
    const cl = this.clusters.get(c.clusterId);
    const others = [...(cl?.nodes.values() ?? [])].some((n) => n.enabled);
    return !others || this.hasReachable(c.clusterId);
  }

  /**
   * Ask again for a full sync of a capability (`ul_cluster_sync`-style), from `from` if it
   * qualifies as a donor; false if the capability is unknown or disabled.
   */
  requestSync(name: string, from?: number): boolean {
    return this.sync.requestSync(name, from);
  }

  /** Enable or disable a capability (`clusterer_set_cap_status`). */
  setCapabilityEnabled(clusterId: number, name: string, enabled: boolean): void {
    if (!this.clusters.has(clusterId)) throw new ClustererConfigError('Cluster id not found');
    const c = this.sync.get(name, clusterId);
    if (c === undefined) throw new ClustererConfigError('Capability not found');
    this.sync.setEnabled(c, enabled);
  }

  /**
   * Reachable nodes (me included) holding the capability synced, sorted by id: modules use
   * it to partition work over synced nodes. `index` is my position, -1 if I am not synced.
   */
  syncedNodes(name: string): { nodes: number[]; index: number } {
    const c = this.sync.get(name);
    if (c === undefined) return { nodes: [], index: -1 };
    const cl = this.clusters.get(c.clusterId);
    if (cl === undefined) return { nodes: [], index: -1 };
    this.#reachability.settle();
    const nodes = syncedPeers(cl, name);
    if (c.ok) nodes.push(this.myNodeId);
    nodes.sort((a, b) => a - b);
    return { nodes, index: c.ok ? nodes.indexOf(this.myNodeId) : -1 };
  }

  /** Typed listeners for the sync and sharing-tag events. */
  onCapStatus(fn: (e: CapStatusEvent) => void): () => void {
    this.on('cap_status', fn);
    return () => this.off('cap_status', fn);
  }

  // ---------------------------------------------------------------- sharing tags

  /** Read a sharing tag (`name/cluster`); an unknown tag is created as backup. */
  shtagState(key: string): ShtagState {
    const { name, clusterId } = parseTagKey(key);
    return this.shtags.get(name, clusterId);
  }

  /** Make this node the active owner of a sharing tag (`name/cluster`). */
  shtagSetActive(key: string, reason = 'internal API call'): void {
    const { name, clusterId } = parseTagKey(key);
    this.shtags.activate(name, clusterId, reason);
  }

  onShtagChange(fn: (e: ShtagChangeEvent) => void): () => void {
    this.on('shtag_changed', fn);
    return () => this.off('shtag_changed', fn);
  }

  // ---------------------------------------------------------------- messages (messaging/)

  /** Send a module packet to one node (routed). */
  sendTo(clusterId: number, dst: number, p: ModulePayload): SendResult {
    return this.#messages.sendTo(clusterId, dst, p);
  }

  /** Send a module packet to every enabled node (one payload, or one per destination). */
  sendAll(
    clusterId: number,
    p: ModulePayload | ((dst: number) => ModulePayload | undefined),
  ): SendResult {
    return this.#messages.sendAll(clusterId, p);
  }

  /** A tag as OpenSIPS makes it: `<cluster>-<node>-` plus 24 characters. */
  newTag(clusterId: number): string {
    return this.#messages.newTag(clusterId);
  }

  /** `cluster_send_req`: a GENERIC_MSG request; the reply comes back as a `reply` event with the tag. */
  sendRequest(
    clusterId: number,
    dst: number,
    msg: string,
    tag?: string,
  ): { result: SendResult; tag: string } {
    return this.#messages.sendRequest(clusterId, dst, msg, tag);
  }

  /** `cluster_broadcast_req`. */
  broadcastRequest(
    clusterId: number,
    msg: string,
    tag?: string,
  ): { result: SendResult; tag: string } {
    return this.#messages.broadcastRequest(clusterId, msg, tag);
  }

  /** `cluster_send_rpl`: answer a request, echoing its tag. */
  sendReply(clusterId: number, dst: number, tag: string, msg: string): SendResult {
    return this.#messages.sendReply(clusterId, dst, tag, msg);
  }

  /** Send an MI_CMD (string params only, at most 10). */
  sendMiCommand(clusterId: number, dst: number, command: string, params: string[]): SendResult {
    return this.#messages.sendMiCommand(clusterId, dst, command, params);
  }

  /** Send any clusterer-extra packet (sync, sharing tags) toward dst. */
  sendExtra(clusterId: number, dst: number, p: RoutedPacket): SendResult {
    return this.#messages.sendExtra(clusterId, dst, p);
  }
}
