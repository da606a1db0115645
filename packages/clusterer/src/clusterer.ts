import { EventEmitter } from 'node:events';
import { CAP_EXTRA, MsgType, UPDATE_MAX_PATH_LEN } from './bin/constants.js';
import {
  type CapabilityEntry,
  type ClusterPacket,
  decodeHeader,
  encodePacket,
  type InternalPacket,
  type NodeDescription,
  type RoutedPacket,
  type TopologyEntry,
  tryDecodePacket,
} from './bin/packet.js';
import { ClustererConfigError } from './errors.js';
import { type BinAddress, type NodeConfig, parseBinUrl, parseNodeInfo } from './nodes/node-info.js';
import type { NodeStore } from './nodes/store.js';
import {
  type BinTransport,
  type ClusterClock,
  type Logger,
  noopLogger,
  type PacketSource,
  systemClock,
  type TimerHandle,
} from './runtime.js';
import {
  type CapabilityOptions,
  type CapHandlersForSync,
  type CapStatus,
  type CapStatusEvent,
  LocalCapability,
} from './sync/capability.js';
import { SyncEngine } from './sync/engine.js';
import type { SyncOptions } from './sync/host.js';
import {
  SIPEDGE_SYNC_CAP,
  SIPEDGE_SYNC_COMPARE,
  SIPEDGE_SYNC_DIGEST,
  SIPEDGE_SYNC_STREAM_START,
} from './sync/wire.js';
import {
  type FailoverOptions,
  parseTagKey,
  SHTAG_CLAIM_CAP,
  SharingTags,
  type ShtagChangeEvent,
  type ShtagState,
} from './tags/sharing-tags.js';
import { computeRoutes } from './topology/routing.js';

/** `clusterer_link_state` of OpenSIPS. */
export const LinkState = {
  UP: 0,
  DOWN: 1,
  RETRY_SEND_FAIL: 2,
  RESTART_PINGING: 3,
  RESTARTED: 4,
  RETRYING: 5,
} as const;
export type LinkState = (typeof LinkState)[keyof typeof LinkState];

/** Result codes of `cluster_send_req` / `cluster_broadcast_req` and of sendTo/sendAll. */
export const SendResult = { SENT: 1, LOCAL_DISABLED: -1, UNREACHABLE: -2, SEND_ERROR: -3 } as const;
export type SendResult = (typeof SendResult)[keyof typeof SendResult];

export interface ClustererOptions {
  transport: BinTransport;
  clock?: ClusterClock;
  logger?: Logger;
  /** 0: nodes from my_node_info / neighbor_node_info with discovery; 1 (default): a NodeStore. */
  dbMode?: 0 | 1;
  myNodeId?: number;
  myNodeInfo?: string[];
  neighborNodeInfo?: string[];
  store?: NodeStore;
  /** Seconds between pings on an idle link (default 4). */
  pingInterval?: number;
  /** Milliseconds to wait for a pong (default 1000). */
  pingTimeout?: number;
  /** Seconds between probes of a DOWN link (default 60). */
  nodeTimeout?: number;
  /** Route through intermediate nodes (default true). */
  enableRerouting?: boolean;
  /** Data sync timers and sizes (`seed_fallback_interval`, `sync_timeout`, `sync_packet_size`). */
  sync?: SyncOptions;
  /** `sharing_tag` values: `name/cluster_id=active|backup`. */
  sharingTags?: string[];
  /** Automatic sharing-tag failover (sipedge; off by default in the library). */
  shtagFailover?: FailoverOptions;
}

/** When an originator said something: its `time()` and its per-stream sequence number. */
export interface Stamp {
  ts: number;
  seq: number;
}

const NO_STAMP: Stamp = { ts: Number.NEGATIVE_INFINITY, seq: -1 };

/**
 * Is (ts, seq) newer than `old`? Ordered by timestamp first: an originator's timestamps never
 * go back, so a restarted node (whose seqs start again at 0) is newer than its old self
 * without OpenSIPS's racy "seq 0 means restart" rule.
 */
export function newerStamp(ts: number, seq: number, old: Stamp): boolean {
  return ts > old.ts || (ts === old.ts && seq > old.seq);
}

/** A remote node as this process sees it. */
export class RemoteNode {
  readonly id: number;
  url: string;
  addr: BinAddress;
  dbId: number;
  enabled: boolean;
  noPingRetries: number;
  priority: number;
  sipAddr: string;
  seed: boolean;
  description: string;

  link: LinkState = LinkState.RESTART_PINGING;
  lastPing = Number.NEGATIVE_INFINITY;
  lastPong = Number.NEGATIVE_INFINITY;
  lastSent = Number.NEGATIVE_INFINITY;
  retries = 0;
  /** A ping is out and no pong has come back since. */
  awaitingPong = false;
  /** UP, one pong missed, a confirmation ping is out (see README "link rule"). */
  suspect = false;
  /** When we last re-sent our topology to this peer on its list request. */
  lastTopologyResync = Number.NEGATIVE_INFINITY;
  /** Node ids the peer listed in its last PONG. */
  peerKnows = new Set<number>();

  /** The adjacency this node reported (never contains the local node). */
  neighbours = new Set<number>();
  /** Per reported link, the (timestamp, seq) of the newest update about it (last-writer-wins). */
  linkSeq = new Map<number, Stamp>();
  /** Links known only from other nodes' relayed FULL_TOP entries, with that entry's stamp. */
  relayedSeq = new Map<number, Stamp>();
  lsSeq = -1;
  lsTs = 0;
  topSeq = -1;
  topTs = 0;
  capSeq = -1;
  capTs = 0;
  caps = new Map<string, boolean>();

  nextHop: number | undefined;

  constructor(c: NodeConfig) {
    this.id = c.nodeId;
    this.url = c.url;
    this.addr = parseBinUrl(c.url);
    this.dbId = c.dbId;
    this.enabled = c.enabled;
    this.noPingRetries = c.noPingRetries;
    this.priority = c.priority;
    this.sipAddr = c.sipAddr;
    this.seed = c.seed;
    this.description = c.description;
  }

  describe(): NodeDescription {
    return {
      url: this.url,
      sipAddr: this.sipAddr,
      priority: this.priority,
      noPingRetries: this.noPingRetries,
    };
  }
}

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

export interface NodeStateEvent {
  clusterId: number;
  nodeId: number;
  up: boolean;
}
export interface GenericMessageEvent {
  clusterId: number;
  srcId: number;
  msg: string;
  tag: string;
}
export interface MiCommandEvent {
  clusterId: number;
  srcId: number;
  command: string;
  params: string[];
}

/** A module's view of a capability packet (trailer removed, body opaque). */
export interface ModulePacket {
  clusterId: number;
  srcId: number;
  version: number;
  type: number;
  body: Buffer;
}

export interface CapabilityHandlers extends CapHandlersForSync {
  onPacket(packet: ModulePacket): void;
  onEvent?(event: NodeStateEvent): void;
}

/** Public view of a reachable node (`get_nodes` of the clusterer API). */
export interface NodeView {
  nodeId: number;
  url: string;
  sipAddr: string;
  priority: number;
  description: string;
  seed: boolean;
}

const MAX_NODES_PER_CLUSTER = 128;

function gcd(a: number, b: number): number {
  let x = Math.round(a);
  let y = Math.round(b);
  while (y) [x, y] = [y, x % y];
  return x;
}

/**
 * The clusterer of one process: nodes and links, pings, link-state topology and routing,
 * discovery, capabilities and generic messages, for every cluster this node is in. Runs on
 * an injected clock and transport; call `start()` to begin pinging.
 */
export class Clusterer extends EventEmitter {
  readonly clusters = new Map<number, ClusterState>();
  readonly myNodeId: number;
  readonly dbMode: 0 | 1;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly nodeTimeoutMs: number;
  readonly rerouting: boolean;
  /** Counters: packets by kind, drops by reason, events. */
  readonly counters = new Map<string, number>();
  private readonly transport: BinTransport;
  private readonly clock: ClusterClock;
  private readonly log: Logger;
  private readonly store: NodeStore | undefined;
  private readonly capabilities = new Map<string, CapabilityHandlers>();
  private readonly tickMs: number;
  private timer: TimerHandle | undefined;
  private running = false;
  private readonly dirty = new Set<ClusterState>();
  private tagCounter = 0;
  /** Capability sync states and the sync protocol. */
  readonly sync: SyncEngine;
  /** Sharing tags. */
  readonly shtags: SharingTags;

  constructor(options: ClustererOptions) {
    super();
    this.transport = options.transport;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? noopLogger;
    this.dbMode = options.dbMode ?? 1;
    this.store = options.store;
    this.pingIntervalMs = Math.round((options.pingInterval ?? 4) * 1000);
    this.pingTimeoutMs = Math.round(options.pingTimeout ?? 1000);
    this.nodeTimeoutMs = Math.round((options.nodeTimeout ?? 60) * 1000);
    this.rerouting = options.enableRerouting ?? true;
    if (this.pingIntervalMs <= 0 || this.pingTimeoutMs <= 0 || this.nodeTimeoutMs <= 0) {
      throw new ClustererConfigError(
        'ping_interval, ping_timeout and node_timeout must be positive',
      );
    }
    this.tickMs = Math.max(
      1,
      gcd(gcd(this.pingIntervalMs, this.pingTimeoutMs), this.nodeTimeoutMs),
    );
    let configs: NodeConfig[];
    if (this.dbMode === 0) {
      const mine = (options.myNodeInfo ?? []).map((s) => parseNodeInfo(s, 'my_node_info'));
      if (mine.length === 0) throw new ClustererConfigError('db_mode=0 needs my_node_info');
      const id = options.myNodeId ?? mine.find((m) => m.nodeId > 0)?.nodeId;
      if (id === undefined || id <= 0)
        throw new ClustererConfigError('my_node_id (or node_id in my_node_info) is required');
      this.myNodeId = id;
      for (const m of mine) m.nodeId = id;
      configs = [
        ...mine,
        ...(options.neighborNodeInfo ?? []).map((s) => parseNodeInfo(s, 'neighbor_node_info')),
      ];
    } else {
      if (options.store === undefined)
        throw new ClustererConfigError('db_mode=1 needs a node store');
      if (options.myNodeId === undefined || options.myNodeId <= 0)
        throw new ClustererConfigError('my_node_id is required');
      this.myNodeId = options.myNodeId;
      configs = options.store.load(this.myNodeId);
    }
    this.loadConfigs(configs);
    this.sync = new SyncEngine(
      {
        myNodeId: this.myNodeId,
        now: () => this.clock.now(),
        count: (n, k) => this.count(n, k),
        isSeed: (id) => this.clusters.get(id)?.me.seed === true,
        mySipAddr: (id) => this.clusters.get(id)?.me.sipAddr ?? '',
        candidates: (id, cap) => {
          const cl = this.clusters.get(id);
          if (cl === undefined) return [];
          this.settle();
          return [...cl.nodes.values()]
            .filter((n) => n.enabled && n.nextHop !== undefined)
            .map((n) => ({
              id: n.id,
              sipAddr: n.sipAddr,
              priority: n.priority,
              direct: n.nextHop === n.id,
              ok: n.caps.get(cap) === true,
              known: n.caps.has(cap),
            }));
        },
        reachable: (id, node) => this.getNextHop(id, node) !== undefined,
        sendRouted: (id, dst, p) => this.sendRouted(id, dst, p),
        sendBulk: (id, dst, p) => this.sendRouted(id, dst, p, true),
        ...(this.transport.bulkRoom !== undefined
          ? { bulkRoom: (id: number, dst: number) => this.bulkRoom(id, dst) }
          : {}),
        advertise: (id) => this.advertiseCaps(id),
        emitStatus: (e) => this.emit('cap_status', e),
      },
      this.log,
      this.clock,
      options.sync,
    );
    this.shtags = new SharingTags(
      {
        myNodeId: this.myNodeId,
        now: () => this.clock.now(),
        reachable: (id, node) => this.getNextHop(id, node) !== undefined,
        failoverPeers: (id) => {
          const cl = this.clusters.get(id);
          if (cl === undefined) return [];
          this.settle();
          return [...cl.nodes.values()]
            .filter((n) => n.enabled && n.nextHop !== undefined && n.caps.get(SHTAG_CLAIM_CAP))
            .map((n) => ({ id: n.id, priority: n.priority }));
        },
        myPriority: (id) => this.clusters.get(id)?.me.priority ?? 50,
        eligible: (id, requires) => {
          const cl = this.clusters.get(id);
          if (cl === undefined || !cl.enabled) return false;
          this.settle();
          for (const cap of requires) if (!this.isSynced(cap)) return false;
          const all = cl.nodes.size + 1;
          const up = [...cl.nodes.values()].filter((n) => n.nextHop !== undefined);
          const votes = up.length + 1;
          if (votes * 2 > all) return true;
          // an even split: the side holding a seed node (the arbiter) wins
          return votes * 2 === all && (cl.me.seed || up.some((n) => n.seed));
        },
        count: (n, k) => this.count(n, k),
        hasCluster: (id) => this.clusters.has(id),
        nodeIds: (id) =>
          [...(this.clusters.get(id)?.nodes.values() ?? [])]
            .filter((n) => n.enabled)
            .map((n) => n.id),
        sendRouted: (id, dst, p) => this.sendRouted(id, dst, p),
        emitChange: (e) => this.emit('shtag_changed', e),
      },
      this.log,
      options.shtagFailover,
    );
    this.shtags.configure(options.sharingTags ?? []);
    if (this.shtags.failoverEnabled) {
      this.registerCapability(SHTAG_CLAIM_CAP, {
        onPacket: (p) => this.shtags.onClaim(p.clusterId, p.srcId, p.type, p.body),
      });
    }
    this.transport.setHandler({
      onPacket: (p, s) => this.receive(p, s),
      onPeerLost: (to) => this.peerLost(to),
      onDrain: () => this.sync.pump(),
    });
  }

  /** Can another sync-stream packet toward dst be queued on the link to its next hop? */
  private bulkRoom(clusterId: number, dst: number): boolean {
    const cl = this.clusters.get(clusterId);
    if (cl === undefined) return true;
    this.settle();
    const hopId = cl.nodes.get(dst)?.nextHop;
    const hop = hopId === undefined ? undefined : cl.nodes.get(hopId);
    // unreachable: let the send fail so the stream ends
    if (hop === undefined) return true;
    return this.transport.bulkRoom?.(hop.addr) ?? true;
  }

  private loadConfigs(configs: NodeConfig[]): void {
    const mine = configs.filter((c) => c.nodeId === this.myNodeId);
    for (const me of mine) {
      if (this.clusters.has(me.clusterId)) continue;
      this.clusters.set(me.clusterId, {
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
    if (this.clusters.size === 0)
      throw new ClustererConfigError(`node ${this.myNodeId} is in no cluster`);
    for (const c of configs) {
      const cl = this.clusters.get(c.clusterId);
      if (cl === undefined || c.nodeId === this.myNodeId || cl.nodes.has(c.nodeId)) continue;
      if (cl.nodes.size >= MAX_NODES_PER_CLUSTER)
        throw new ClustererConfigError('more than 128 nodes in a cluster');
      cl.nodes.set(c.nodeId, new RemoteNode(c));
    }
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    if (this.running) return;
    this.running = true;
    this.sync.ready();
    // the first pings go out at once, not a tick (up to ping_interval) after start
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  destroy(): void {
    this.stop();
    this.removeAllListeners();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  private schedule(delay = this.tickMs): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.tick();
      this.schedule();
    }, delay);
  }

  /** db_mode=1: reload the node table; every link restarts and learned state is dropped. */
  reload(): void {
    if (this.dbMode !== 1 || this.store === undefined)
      throw new ClustererConfigError('Non-DB mode');
    const configs = this.store.load(this.myNodeId);
    const old = new Map(this.clusters);
    this.clusters.clear();
    this.loadConfigs(configs);
    // report nodes that were reachable and are gone or restarted
    for (const [id, cl] of old) {
      for (const n of cl.nodes.values()) {
        if (n.nextHop !== undefined) this.emitNodeState(id, n.id, false);
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  private count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  private ts(): number {
    return Math.floor(this.clock.now() / 1000) | 0;
  }

  private sendDirect(
    cl: ClusterState,
    node: RemoteNode,
    packet: Buffer,
    internal: boolean,
    bulk = false,
  ): boolean {
    this.count('sent_packets');
    const t = this.transport;
    const ok =
      bulk && t.sendBulk !== undefined ? t.sendBulk(node.addr, packet) : t.send(node.addr, packet);
    if (!internal) node.lastSent = this.clock.now();
    if (!ok) {
      this.count('send_failures');
      this.sendFailed(cl, node);
    }
    return ok;
  }

  /** A send to (or the connection of) a node failed: the OpenSIPS TCP-failure transitions. */
  private sendFailed(cl: ClusterState, node: RemoteNode): void {
    switch (node.link) {
      case LinkState.UP:
        this.setLink(cl, node, LinkState.RESTART_PINGING);
        return;
      case LinkState.RESTARTED:
        this.afterFailedPing(cl, node, node.noPingRetries);
        return;
      case LinkState.RETRYING:
        this.afterFailedPing(cl, node, node.retries);
        return;
      default:
        return;
    }
  }

  private peerLost(to: BinAddress): void {
    for (const cl of this.clusters.values()) {
      for (const n of cl.nodes.values()) {
        if (n.addr.host === to.host && n.addr.port === to.port && n.addr.proto === to.proto) {
          this.sync.connectionLost(cl.id, n.id);
          this.sendFailed(cl, n);
        }
      }
    }
    this.settle();
  }

  /** Change a link's state, doing the topology work of entering or leaving UP. */
  private setLink(cl: ClusterState, node: RemoteNode, state: LinkState): void {
    const wasUp = node.link === LinkState.UP;
    node.link = state;
    if (state !== LinkState.UP) node.suspect = false;
    if (wasUp === (state === LinkState.UP)) return;
    cl.topVersion++;
    this.dirty.add(cl);
    if (state === LinkState.UP) {
      cl.direct.add(node.id);
      this.log.info({ cluster: cl.id, node: node.id }, 'link up');
      this.floodLs(cl, node.id, true);
      this.sendFullTop(cl, node);
      this.sendCapUpdate(cl, node, true);
    } else {
      cl.direct.delete(node.id);
      this.log.info({ cluster: cl.id, node: node.id }, 'link down');
      this.floodLs(cl, node.id, false);
    }
  }

  private ping(cl: ClusterState, node: RemoteNode, withList: boolean): boolean {
    const now = this.clock.now();
    node.lastPing = now;
    node.awaitingPong = true;
    this.count('pings_sent');
    const pkt = encodePacket({
      kind: 'ping',
      cluster: cl.id,
      src: this.myNodeId,
      reqNodeList: withList,
    });
    this.count('sent_packets');
    const ok = this.transport.send(node.addr, pkt);
    if (!ok) this.count('send_failures');
    return ok;
  }

  // ---------------------------------------------------------------- heartbeat

  /** One heartbeat tick: the link state machine of every enabled node (digest §3). */
  tick(): void {
    const now = this.clock.now();
    for (const cl of this.clusters.values()) {
      if (!cl.enabled) continue;
      for (const node of cl.nodes.values()) {
        if (!node.enabled) continue;
        this.tickNode(cl, node, now);
      }
    }
    this.settle();
    this.sync.tick();
    this.shtags.tick();
    this.settle();
  }

  private tickNode(cl: ClusterState, n: RemoteNode, now: number): void {
    const sincePing = now - n.lastPing;
    const timedOut = n.awaitingPong && sincePing >= this.pingTimeoutMs;
    switch (n.link) {
      case LinkState.RESTART_PINGING:
        if (this.ping(cl, n, true)) n.link = LinkState.RESTARTED;
        else this.afterFailedPing(cl, n, n.noPingRetries);
        return;
      case LinkState.RETRY_SEND_FAIL:
        if (sincePing < this.pingTimeoutMs) return;
        n.retries--;
        if (this.ping(cl, n, true)) n.link = LinkState.RETRYING;
        else if (n.retries <= 0) this.setLink(cl, n, LinkState.DOWN);
        return;
      case LinkState.RESTARTED:
      case LinkState.RETRYING:
        if (!timedOut) return;
        if (n.link === LinkState.RESTARTED) n.retries = n.noPingRetries;
        if (n.retries <= 0) {
          this.setLink(cl, n, LinkState.DOWN);
          return;
        }
        n.retries--;
        n.link = LinkState.RETRYING;
        if (!this.ping(cl, n, true)) this.afterFailedPing(cl, n, n.retries);
        return;
      case LinkState.UP:
        if (timedOut) {
          if (!n.suspect) {
            // first missed pong: confirm with one more ping before leaving UP
            n.suspect = true;
            if (!this.ping(cl, n, false)) this.afterFailedPing(cl, n, n.noPingRetries);
            return;
          }
          if (n.noPingRetries <= 0) {
            this.setLink(cl, n, LinkState.DOWN);
            return;
          }
          n.retries = n.noPingRetries - 1;
          this.setLink(cl, n, LinkState.RETRYING);
          if (!this.ping(cl, n, true)) this.afterFailedPing(cl, n, n.retries);
          return;
        }
        if (!n.awaitingPong && now - Math.max(n.lastPing, n.lastSent) >= this.pingIntervalMs) {
          if (!this.ping(cl, n, false)) this.afterFailedPing(cl, n, n.noPingRetries);
        }
        return;
      case LinkState.DOWN:
        if (sincePing >= this.nodeTimeoutMs) {
          if (this.ping(cl, n, true)) n.link = LinkState.RESTARTED;
          else this.afterFailedPing(cl, n, n.noPingRetries);
        }
        return;
    }
  }

  private afterFailedPing(cl: ClusterState, n: RemoteNode, retries: number): void {
    if (retries <= 0) {
      this.setLink(cl, n, LinkState.DOWN);
      return;
    }
    n.retries = retries;
    this.setLink(cl, n, LinkState.RETRY_SEND_FAIL);
  }

  // ---------------------------------------------------------------- receive

  /** Entry point for one whole BIN packet from the transport. Never throws. */
  receive(raw: Buffer, source: PacketSource): void {
    this.count('recv_packets');
    const r = tryDecodePacket(raw);
    if (!r.ok) {
      this.count(`drop_decode_${r.error.reason}`);
      this.brokenSync(raw);
      return;
    }
    try {
      this.handle(r.packet, raw, source);
    } catch (e) {
      this.count('drop_handler_error');
      this.log.error({ err: e }, 'error handling BIN packet');
    }
    this.settle();
  }

  /** An undecodable SYNC (broken chunk framing) ends the sync it belongs to at once. */
  private brokenSync(raw: Buffer): void {
    try {
      const h = decodeHeader(raw);
      if (h.capability !== CAP_EXTRA || h.type !== MsgType.SYNC || raw.length < h.bodyOffset + 14)
        return;
      const len = raw.readUInt16LE(h.bodyOffset);
      const end = h.bodyOffset + 2 + len;
      if (end > raw.length - 12) return;
      const capability = raw.toString('latin1', h.bodyOffset + 2, end);
      const cluster = raw.readInt32LE(raw.length - 12);
      const src = raw.readInt32LE(raw.length - 8);
      const dst = raw.readInt32LE(raw.length - 4);
      if (dst !== this.myNodeId) return;
      this.sync.onBrokenSync(cluster, src, capability);
    } catch {
      // nothing more to learn from it
    }
  }

  private drop(reason: string): undefined {
    this.count(`drop_${reason}`);
  }

  private handle(p: ClusterPacket, raw: Buffer, source: PacketSource): undefined {
    if (
      p.kind === 'module' &&
      !this.capabilities.has(p.capability) &&
      p.capability !== SIPEDGE_SYNC_CAP
    )
      return this.drop('unknown_capability');
    if (p.src === this.myNodeId) return this.drop('from_self');
    const cl = this.clusters.get(p.cluster);
    if (cl === undefined) return this.drop('unknown_cluster');
    if (!cl.enabled) return this.drop('local_disabled');
    const src = cl.nodes.get(p.src);
    if (src === undefined) {
      if (this.dbMode === 0 && (p.kind === 'ping' || p.kind === 'node_description')) {
        return this.handleUnknown(cl, p, source);
      }
      return this.drop('unknown_node');
    }
    if (!this.checkAddr(cl.id, source.host)) return this.drop('unknown_source');
    if (!src.enabled) return this.drop('node_disabled');
    if (
      (p.kind === 'sync' || p.kind === 'sync_end') &&
      src.link === LinkState.UP &&
      src.awaitingPong &&
      src.nextHop === src.id &&
      source.host === src.addr.host
    ) {
      // sync data straight from the peer proves it alive as a pong would: its pongs travel
      // behind the stream in the kernel's socket buffers (README, "sync streams")
      this.count('sync_as_pong');
      src.awaitingPong = false;
      src.suspect = false;
    }
    switch (p.kind) {
      case 'ping':
        return this.onPing(cl, src, p.reqNodeList);
      case 'pong':
        return this.onPong(cl, src, p.nodes);
      case 'ls_update':
        return this.onLsUpdate(cl, p);
      case 'full_top_update':
        return this.onFullTop(cl, src, p);
      case 'unknown_id':
        return this.onUnknownId(cl, src);
      case 'node_description':
        return this.drop('known_description');
      case 'cap_update':
        return this.onCapUpdate(cl, src, p);
      default:
        return this.onRouted(cl, src, p, raw, source);
    }
  }

  /** Is `host` the address of a node of any of my clusters (for TcpBinTransport `acceptFrom`)? */
  isKnownHost(host: string): boolean {
    for (const id of this.clusters.keys()) if (this.checkAddr(id, host)) return true;
    return false;
  }

  /** Is `host` the address of any node of the cluster (the `auth_check` of BIN)? */
  checkAddr(clusterId: number, host: string): boolean {
    const cl = this.clusters.get(clusterId);
    if (cl === undefined) return false;
    if (parseBinUrl(cl.me.url).host === host) return true;
    for (const n of cl.nodes.values()) if (n.addr.host === host) return true;
    return false;
  }

  private handleUnknown(
    cl: ClusterState,
    p: Extract<ClusterPacket, { kind: 'ping' | 'node_description' }>,
    source: PacketSource,
  ): undefined {
    if (p.kind === 'ping') {
      this.count('unknown_id_sent');
      source.reply(encodePacket({ kind: 'unknown_id', cluster: cl.id, src: this.myNodeId }));
      return;
    }
    if (cl.nodes.size >= MAX_NODES_PER_CLUSTER) return this.drop('too_many_nodes');
    if (!this.vouchedFor(cl, p, source.host)) return this.drop('unvouched_description');
    let node: RemoteNode;
    try {
      node = this.addDiscovered(cl, p.src, p.description);
    } catch {
      return this.drop('bad_description');
    }
    this.log.info({ cluster: cl.id, node: node.id, url: node.url }, 'discovered node');
    this.flood(cl, { ...p, path: [...p.path] }, p.path);
  }

  /**
   * Who may introduce a node (the `auth_check` of a description): the node itself, from the
   * host its URL names, or a known node forwarding it (the last hop of the path) from that
   * node's own host. A description from anywhere else would let any sender point a node id at
   * an address it does not live at, cutting that node off until a restart.
   */
  private vouchedFor(
    cl: ClusterState,
    p: Extract<ClusterPacket, { kind: 'node_description' }>,
    host: string,
  ): boolean {
    const hop = p.path[p.path.length - 1] ?? p.src;
    if (hop === p.src) {
      try {
        return parseBinUrl(p.description.url).host === host;
      } catch {
        return false;
      }
    }
    return cl.nodes.get(hop)?.addr.host === host;
  }

  private addDiscovered(cl: ClusterState, id: number, d: NodeDescription): RemoteNode {
    if (id <= 0 || id === this.myNodeId) throw new ClustererConfigError('bad node id');
    const node = new RemoteNode({
      clusterId: cl.id,
      nodeId: id,
      url: d.url,
      dbId: -1,
      enabled: true,
      noPingRetries: Math.max(0, Math.min(d.noPingRetries, 100)),
      priority: d.priority,
      sipAddr: d.sipAddr,
      seed: false,
      description: '',
    });
    cl.nodes.set(id, node);
    return node;
  }

  private onUnknownId(cl: ClusterState, src: RemoteNode): undefined {
    if (this.dbMode !== 0) return;
    const me = cl.me;
    const description = {
      url: me.url,
      sipAddr: me.sipAddr,
      priority: me.priority,
      noPingRetries: me.noPingRetries,
    };
    this.sendDirect(
      cl,
      src,
      encodePacket({
        kind: 'node_description',
        cluster: cl.id,
        src: this.myNodeId,
        description,
        path: [this.myNodeId],
      }),
      true,
    );
    if (src.link !== LinkState.UP) src.link = LinkState.RESTART_PINGING;
  }

  private onPing(cl: ClusterState, src: RemoteNode, withList: boolean): undefined {
    this.count('pings_recv');
    const nodes = withList ? [...cl.nodes.keys()].filter((id) => id !== src.id) : [];
    const ok = this.sendDirect(
      cl,
      src,
      encodePacket({ kind: 'pong', cluster: cl.id, src: this.myNodeId, nodes }),
      true,
    );
    const now = this.clock.now();
    if (
      ok &&
      withList &&
      src.link === LinkState.UP &&
      now - src.lastTopologyResync >= this.pingIntervalMs
    ) {
      // a list request on a link we hold UP: the peer restarted or lost its state; give it
      // the topology it would have got had we seen the link go down and up (at most once
      // per ping_interval, as each FULL_TOP_UPDATE is flooded)
      src.lastTopologyResync = now;
      this.sendFullTop(cl, src);
      this.sendCapUpdate(cl, src, false);
    }
    if (ok && (src.link === LinkState.DOWN || src.link === LinkState.RETRY_SEND_FAIL)) {
      // the peer is back: probe it now rather than at the next node_timeout
      if (this.ping(cl, src, true)) src.link = LinkState.RESTARTED;
    }
  }

  private onPong(cl: ClusterState, src: RemoteNode, known: number[]): undefined {
    this.count('pongs_recv');
    const now = this.clock.now();
    src.lastPong = now;
    if (known.length > 0) src.peerKnows = new Set(known);
    const timely = src.awaitingPong && now - src.lastPing < this.pingTimeoutMs;
    if (src.link === LinkState.UP) {
      // any pong, even a late one, proves the peer alive: clears a suspect link
      src.awaitingPong = false;
      src.suspect = false;
      return;
    }
    if (!timely) {
      this.drop('late_pong');
      return;
    }
    src.awaitingPong = false;
    this.setLink(cl, src, LinkState.UP);
  }

  private accept(stored: number, storedTs: number, seq: number, ts: number): boolean {
    return newerStamp(ts, seq, stored < 0 ? NO_STAMP : { ts: storedTs, seq: stored });
  }

  /** Timestamps more than a day ahead of our clock are nonsense and would block updates. */
  private absurdTs(ts: number): boolean {
    return ts > this.ts() + 86_400;
  }

  private onLsUpdate(
    cl: ClusterState,
    p: Extract<InternalPacket, { kind: 'ls_update' }>,
  ): undefined {
    const origin = cl.nodes.get(p.src);
    if (origin === undefined) return this.drop('unknown_node');
    if (p.neighbour === p.src) return this.drop('self_loop');
    if (p.seq < 0) return this.drop('bad_seq');
    if (p.neighbour !== this.myNodeId && !cl.nodes.has(p.neighbour))
      return this.drop('unknown_neighbour');
    // Each LS_UPDATE is the state of one link: newest per link wins, so updates that
    // overtake each other on different flood paths are all applied.
    if (this.absurdTs(p.timestamp)) return this.drop('absurd_timestamp');
    if (!newerStamp(p.timestamp, p.seq, origin.linkSeq.get(p.neighbour) ?? NO_STAMP))
      return this.drop('stale_update');
    origin.linkSeq.set(p.neighbour, { ts: p.timestamp, seq: p.seq });
    origin.relayedSeq.delete(p.neighbour);
    if (this.accept(origin.lsSeq, origin.lsTs, p.seq, p.timestamp)) {
      origin.lsSeq = p.seq;
      origin.lsTs = p.timestamp;
    }
    if (p.neighbour === this.myNodeId) {
      const mine = origin.link;
      if ((p.up && mine === LinkState.DOWN) || (!p.up && mine === LinkState.UP)) {
        this.setLink(cl, origin, LinkState.RESTART_PINGING);
      }
    } else {
      const had = origin.neighbours.has(p.neighbour);
      if (p.up && !had) origin.neighbours.add(p.neighbour);
      else if (!p.up && had) origin.neighbours.delete(p.neighbour);
      if (had !== p.up) {
        cl.topVersion++;
        this.dirty.add(cl);
      }
    }
    this.flood(cl, p, p.path);
  }

  private onFullTop(
    cl: ClusterState,
    sender: RemoteNode,
    p: Extract<InternalPacket, { kind: 'full_top_update' }>,
  ): undefined {
    const origin = cl.nodes.get(p.src) ?? sender;
    if (p.seq < 0) return this.drop('bad_seq');
    if (this.absurdTs(p.timestamp)) return this.drop('absurd_timestamp');
    if (!this.accept(origin.topSeq, origin.topTs, p.seq, p.timestamp))
      return this.drop('stale_update');
    origin.topSeq = p.seq;
    origin.topTs = p.timestamp;
    let changed = false;
    p.nodes.forEach((e: TopologyEntry, i: number) => {
      if (e.nodeId === this.myNodeId) return;
      let node = cl.nodes.get(e.nodeId);
      if (node === undefined) {
        if (
          this.dbMode !== 0 ||
          e.description === undefined ||
          cl.nodes.size >= MAX_NODES_PER_CLUSTER
        )
          return;
        try {
          node = this.addDiscovered(cl, e.nodeId, e.description);
        } catch {
          return;
        }
      }
      const first = i === 0 && e.nodeId === p.src;
      // a node's own entry is its full adjacency at lsSeq; a relayed entry is the relayer's
      // view at (at most) that seq. Apply it link by link where it is newer than what we hold.
      const listed = new Set<number>();
      for (const nb of e.neighbours) if (nb !== e.nodeId && cl.nodes.has(nb)) listed.add(nb);
      if (first && e.neighbours.includes(this.myNodeId) && node.link === LinkState.DOWN) {
        this.setLink(cl, node, LinkState.RESTART_PINGING);
      }
      const candidates = new Set<number>([...listed, ...node.neighbours, ...node.linkSeq.keys()]);
      const stamp: Stamp = { ts: e.lsTimestamp, seq: e.lsSeq };
      for (const nb of candidates) {
        if (nb === this.myNodeId) continue;
        // the relaying sender never lists itself in the entries of others
        if (!first && nb === p.src) continue;
        if (first) {
          // the originator's own snapshot is authoritative for all its links
          const known = node.linkSeq.get(nb) ?? NO_STAMP;
          const same = stamp.ts === known.ts && stamp.seq === known.seq;
          if (!newerStamp(stamp.ts, stamp.seq, known) && !same) continue;
          node.linkSeq.set(nb, stamp);
          node.relayedSeq.delete(nb);
        } else {
          // a relayer's view may lack updates it has not seen yet: use it only for links we
          // know nothing first-hand about (a restarted node, a healed partition)
          if (node.linkSeq.has(nb)) continue;
          const prev = node.relayedSeq.get(nb);
          if (prev !== undefined && !newerStamp(stamp.ts, stamp.seq, prev)) continue;
          node.relayedSeq.set(nb, stamp);
        }
        const up = listed.has(nb);
        if (up !== node.neighbours.has(nb)) {
          if (up) node.neighbours.add(nb);
          else node.neighbours.delete(nb);
          changed = true;
        }
      }
      if (this.accept(node.lsSeq, node.lsTs, e.lsSeq, e.lsTimestamp)) {
        node.lsSeq = e.lsSeq;
        node.lsTs = e.lsTimestamp;
      }
    });
    if (changed) {
      cl.topVersion++;
      this.dirty.add(cl);
    }
    this.flood(cl, p, p.path);
  }

  private onCapUpdate(
    cl: ClusterState,
    src: RemoteNode,
    p: Extract<InternalPacket, { kind: 'cap_update' }>,
  ): undefined {
    const origin = cl.nodes.get(p.src);
    if (origin === undefined) return this.drop('unknown_node');
    if (p.seq < 0) return this.drop('bad_seq');
    if (this.absurdTs(p.timestamp)) return this.drop('absurd_timestamp');
    if (!this.accept(origin.capSeq, origin.capTs, p.seq, p.timestamp))
      return this.drop('stale_update');
    for (const e of p.nodes)
      if (e.nodeId !== this.myNodeId && !cl.nodes.has(e.nodeId)) return this.drop('unknown_node');
    origin.capSeq = p.seq;
    origin.capTs = p.timestamp;
    for (const e of p.nodes) {
      const n = cl.nodes.get(e.nodeId);
      if (n === undefined) continue;
      for (const c of e.caps) n.caps.set(c.name, c.ok);
    }
    if (p.requireReply) this.sendCapUpdate(cl, src, false);
    this.flood(cl, p.requireReply ? { ...p, requireReply: false } : p, p.path);
    this.sync.remoteCaps(cl.id);
  }

  private onRouted(
    cl: ClusterState,
    src: RemoteNode,
    p: RoutedPacket,
    raw: Buffer,
    source: PacketSource,
  ): undefined {
    // any packet straight from a node we consider DOWN restarts pinging it
    if (src.link === LinkState.DOWN && source.host === src.addr.host)
      src.link = LinkState.RESTART_PINGING;
    if (p.dst !== this.myNodeId) {
      if (!this.rerouting && p.kind !== 'module') return this.drop('rerouting_disabled');
      const dst = cl.nodes.get(p.dst);
      if (dst === undefined) return this.drop('unknown_destination');
      if (!this.rerouting && dst.link !== LinkState.UP) return this.drop('rerouting_disabled');
      this.count('forwarded');
      if (this.route(cl, p.dst, raw) !== SendResult.SENT) this.drop('forward_failed');
      return;
    }
    switch (p.kind) {
      case 'module': {
        if (p.capability === SIPEDGE_SYNC_CAP) {
          if (p.type === SIPEDGE_SYNC_DIGEST) this.sync.onDigest(cl.id, p.src, p.body);
          else if (p.type === SIPEDGE_SYNC_COMPARE) this.sync.onCompare(cl.id, p.src, p.body);
          else if (p.type === SIPEDGE_SYNC_STREAM_START)
            this.sync.onStreamStart(cl.id, p.src, p.body);
          return;
        }
        const cap = this.capabilities.get(p.capability);
        if (cap === undefined) return;
        const mp: ModulePacket = {
          clusterId: cl.id,
          srcId: p.src,
          version: p.version,
          type: p.type,
          body: p.body,
        };
        if (this.sync.hold(p.capability, cl.id, { deliver: () => cap.onPacket(mp) }))
          return void this.count('sync_held_packets');
        cap.onPacket(mp);
        return;
      }
      case 'sync_req':
        this.sync.onSyncRequest(cl.id, p.src, p.capability);
        return;
      case 'sync':
        this.sync.onSync(cl.id, p.src, decodeHeader(raw).version, p);
        return;
      case 'sync_end':
        this.sync.onSyncEnd(cl.id, p.src, decodeHeader(raw).version, p.capability, p.chunks);
        return;
      case 'shtag_active':
        this.shtags.onActive(cl.id, p.src, p.tag);
        return;
      case 'generic_msg':
        this.emit(p.request ? 'request' : 'reply', {
          clusterId: cl.id,
          srcId: p.src,
          msg: p.msg,
          tag: p.tag,
        } satisfies GenericMessageEvent);
        return;
      case 'mi_cmd':
        this.emit('mi_cmd', {
          clusterId: cl.id,
          srcId: p.src,
          command: p.command,
          params: p.params,
        } satisfies MiCommandEvent);
        return;
      case 'remove_node':
        if (this.dbMode !== 0) return this.drop('remove_in_db_mode');
        this.removeNodeLocally(cl, p.target);
        return;
      default:
        this.emit('extra', { clusterId: cl.id, packet: p });
    }
  }

  // ---------------------------------------------------------------- flooding

  private flood(cl: ClusterState, p: InternalPacket, path: number[]): void {
    if (path.length >= UPDATE_MAX_PATH_LEN) return;
    const onPath = new Set(path);
    const targets = [...cl.direct].filter((id) => !onPath.has(id));
    if (targets.length === 0) return;
    const out = encodePacket({ ...p, path: [...path, this.myNodeId] } as InternalPacket);
    for (const id of targets) {
      const n = cl.nodes.get(id);
      if (n !== undefined) {
        this.count('topology_sent');
        this.sendDirect(cl, n, out, true);
      }
    }
  }

  private floodLs(cl: ClusterState, neighbour: number, up: boolean): void {
    cl.lsSeq++;
    cl.lsTs = this.ts();
    const pkt = encodePacket({
      kind: 'ls_update',
      cluster: cl.id,
      src: this.myNodeId,
      seq: cl.lsSeq,
      timestamp: cl.lsTs,
      neighbour,
      up,
      path: [this.myNodeId],
    });
    for (const id of [...cl.direct]) {
      if (id === neighbour) continue;
      const n = cl.nodes.get(id);
      if (n === undefined) continue;
      this.count('topology_sent');
      this.sendDirect(cl, n, pkt, true);
    }
  }

  private sendFullTop(cl: ClusterState, to: RemoteNode): void {
    cl.topSeq++;
    const nodes: TopologyEntry[] = [
      { nodeId: this.myNodeId, lsSeq: cl.lsSeq, lsTimestamp: cl.lsTs, neighbours: [...cl.direct] },
    ];
    for (const n of cl.nodes.values()) {
      if (n.id === to.id) continue;
      const e: TopologyEntry = {
        nodeId: n.id,
        lsSeq: n.lsSeq,
        lsTimestamp: n.lsTs,
        neighbours: [...n.neighbours],
      };
      if (this.dbMode === 0 && !to.peerKnows.has(n.id)) e.description = n.describe();
      nodes.push(e);
    }
    this.count('topology_sent');
    this.sendDirect(
      cl,
      to,
      encodePacket({
        kind: 'full_top_update',
        cluster: cl.id,
        src: this.myNodeId,
        seq: cl.topSeq,
        timestamp: this.ts(),
        nodes,
        path: [this.myNodeId],
      }),
      true,
    );
  }

  private myCaps(cl: ClusterState): CapabilityEntry {
    return {
      nodeId: this.myNodeId,
      caps: [...this.capabilities.keys()].map((name) => {
        const c = this.sync.get(name, cl.id);
        return { name, ok: c === undefined ? true : c.ok };
      }),
    };
  }

  /** Send my capability states to every UP neighbour (flooded on by them). */
  private advertiseCaps(clusterId: number): void {
    const cl = this.clusters.get(clusterId);
    if (cl === undefined || !cl.enabled || cl.direct.size === 0) return;
    cl.capSeq++;
    const pkt = encodePacket({
      kind: 'cap_update',
      cluster: cl.id,
      src: this.myNodeId,
      seq: cl.capSeq,
      timestamp: this.ts(),
      nodes: [this.myCaps(cl)],
      requireReply: false,
      path: [this.myNodeId],
    });
    for (const id of [...cl.direct]) {
      const n = cl.nodes.get(id);
      if (n === undefined) continue;
      this.count('topology_sent');
      this.sendDirect(cl, n, pkt, true);
    }
  }

  private sendCapUpdate(cl: ClusterState, to: RemoteNode, requireReply: boolean): void {
    cl.capSeq++;
    const mine = this.myCaps(cl);
    const nodes: CapabilityEntry[] = [mine];
    for (const n of cl.nodes.values()) {
      if (n.id !== to.id && n.caps.size > 0) {
        nodes.push({ nodeId: n.id, caps: [...n.caps].map(([name, ok]) => ({ name, ok })) });
      }
    }
    this.count('topology_sent');
    this.sendDirect(
      cl,
      to,
      encodePacket({
        kind: 'cap_update',
        cluster: cl.id,
        src: this.myNodeId,
        seq: cl.capSeq,
        timestamp: this.ts(),
        nodes,
        requireReply,
        path: [this.myNodeId],
      }),
      true,
    );
  }

  // ---------------------------------------------------------------- routing & events

  private recompute(cl: ClusterState): void {
    const table = computeRoutes(
      {
        direct: cl.direct,
        neighboursOf: (id) => cl.nodes.get(id)?.neighbours,
        priorityOf: (id) => cl.nodes.get(id)?.priority ?? 0,
      },
      this.myNodeId,
      this.rerouting,
    );
    const events: NodeStateEvent[] = [];
    for (const n of cl.nodes.values()) {
      const before = n.nextHop !== undefined;
      const hop = n.enabled ? table.nextHop.get(n.id) : undefined;
      n.nextHop = hop;
      const after = hop !== undefined;
      if (before !== after) events.push({ clusterId: cl.id, nodeId: n.id, up: after });
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
    for (const e of events) this.emitNodeState(e.clusterId, e.nodeId, e.up);
  }

  private emitNodeState(clusterId: number, nodeId: number, up: boolean): void {
    this.count(up ? 'node_up_events' : 'node_down_events');
    const ev: NodeStateEvent = { clusterId, nodeId, up };
    this.sync.nodeState(clusterId, nodeId, up);
    for (const cap of this.capabilities.values()) cap.onEvent?.(ev);
    this.emit('node_state', ev);
    if (up) this.shtags.nodeUp(clusterId, nodeId);
  }

  /** Recompute routes of changed clusters and raise NODE_UP / NODE_DOWN. */
  private settle(): void {
    for (let i = 0; i < 8 && this.dirty.size > 0; i++) {
      const list = [...this.dirty];
      this.dirty.clear();
      for (const cl of list) this.recompute(cl);
    }
  }

  /**
   * Send `raw` (a routed packet whose trailer already names dst) toward dst: directly if the
   * link is UP, else via the next hop; a failed hop is marked and another one tried.
   */
  private route(cl: ClusterState, dst: number, raw: Buffer, bulk = false): SendResult {
    for (let attempt = 0; attempt <= cl.nodes.size; attempt++) {
      this.settle();
      const target = cl.nodes.get(dst);
      if (target === undefined || target.nextHop === undefined) return SendResult.UNREACHABLE;
      const hop = cl.nodes.get(target.nextHop);
      if (hop === undefined) return SendResult.UNREACHABLE;
      if (this.sendDirect(cl, hop, raw, false, bulk)) return SendResult.SENT;
    }
    return SendResult.SEND_ERROR;
  }

  private sendRouted(clusterId: number, dst: number, p: RoutedPacket, bulk = false): SendResult {
    const cl = this.clusters.get(clusterId);
    if (cl === undefined) return SendResult.UNREACHABLE;
    if (!cl.enabled) return SendResult.LOCAL_DISABLED;
    const r = this.route(
      cl,
      dst,
      encodePacket({ ...p, cluster: clusterId, src: this.myNodeId, dst } as RoutedPacket),
      bulk,
    );
    this.settle();
    return r;
  }

  private broadcast(clusterId: number, make: (dst: number) => RoutedPacket): SendResult {
    const cl = this.clusters.get(clusterId);
    if (cl === undefined) return SendResult.UNREACHABLE;
    if (!cl.enabled) return SendResult.LOCAL_DISABLED;
    let sent = 0;
    let down = 0;
    let targets = 0;
    for (const n of [...cl.nodes.values()]) {
      if (!n.enabled) continue;
      targets++;
      const r = this.sendRouted(clusterId, n.id, make(n.id));
      if (r === SendResult.SENT) sent++;
      else if (r === SendResult.UNREACHABLE) down++;
    }
    if (sent > 0 || targets === 0) return SendResult.SENT;
    return down === targets ? SendResult.UNREACHABLE : SendResult.SEND_ERROR;
  }

  // ---------------------------------------------------------------- module API

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
    if (
      name === 'clusterer-internal' ||
      name === 'clusterer-extra' ||
      name === SIPEDGE_SYNC_CAP ||
      name === '' ||
      Buffer.byteLength(name) > 255
    ) {
      throw new ClustererConfigError(`reserved or bad capability name "${name}"`);
    }
    if (this.capabilities.has(name))
      throw new ClustererConfigError(`capability "${name}" already registered`);
    const clusterId = options.clusterId ?? this.clusters.keys().next().value;
    if (clusterId === undefined || !this.clusters.has(clusterId))
      throw new ClustererConfigError(`capability "${name}": unknown cluster ${clusterId}`);
    this.capabilities.set(name, handlers);
    this.sync.add(
      new LocalCapability(
        name,
        clusterId,
        handlers,
        options.startupSync ?? false,
        options.syncCond ?? 'any',
        options.dataVersion ?? 1,
        options.syncMode ?? 'replace',
        options.resyncOnNodeUp ?? false,
      ),
    );
    const cl = this.clusters.get(clusterId);
    if (cl !== undefined && this.running) this.advertiseCaps(cl.id);
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
    this.settle();
    const nodes = [...cl.nodes.values()]
      .filter((n) => n.enabled && n.nextHop !== undefined && n.caps.get(name) === true)
      .map((n) => n.id);
    if (c.ok) nodes.push(this.myNodeId);
    nodes.sort((a, b) => a - b);
    return { nodes, index: c.ok ? nodes.indexOf(this.myNodeId) : -1 };
  }

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

  /** Names of the registered local capabilities, in registration order. */
  capabilityNames(): string[] {
    return [...this.capabilities.keys()];
  }

  /** Is any node of the cluster reachable now? (Cheap: lets a module skip encoding a send.) */
  hasReachable(clusterId: number): boolean {
    const cl = this.clusters.get(clusterId);
    if (cl === undefined) return false;
    this.settle();
    for (const n of cl.nodes.values()) if (n.nextHop !== undefined) return true;
    return false;
  }

  /** Reachable nodes of a cluster (the clusterer API `get_nodes`). */
  getNodes(clusterId: number): NodeView[] {
    const cl = this.clusters.get(clusterId);
    if (cl === undefined) return [];
    this.settle();
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

  getNextHop(clusterId: number, nodeId: number): number | undefined {
    this.settle();
    return this.clusters.get(clusterId)?.nodes.get(nodeId)?.nextHop;
  }

  /** Send a module packet to one node (routed). */
  sendTo(
    clusterId: number,
    dst: number,
    p: { capability: string; version: number; type: number; body: Buffer },
  ): SendResult {
    return this.sendRouted(clusterId, dst, {
      kind: 'module',
      cluster: clusterId,
      src: this.myNodeId,
      dst,
      ...p,
    });
  }

  /** Send a module packet to every enabled node: N unicasts with the destination rewritten. */
  sendAll(
    clusterId: number,
    p: { capability: string; version: number; type: number; body: Buffer },
  ): SendResult {
    return this.broadcast(clusterId, (dst) => ({
      kind: 'module',
      cluster: clusterId,
      src: this.myNodeId,
      dst,
      ...p,
    }));
  }

  /** A tag as OpenSIPS makes it: `<cluster>-<node>-` plus 24 characters. */
  newTag(clusterId: number): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxy123456';
    let x = (this.clock.now() * 1000 + this.tagCounter++ * 7919 + this.myNodeId * 104729) >>> 0;
    let s = '';
    for (let i = 0; i < 24; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      s += alphabet[(x >>> 16) % alphabet.length];
    }
    return `${clusterId}-${this.myNodeId}-${s}`;
  }

  /** `cluster_send_req`: a GENERIC_MSG request; the reply comes back as a `reply` event with the tag. */
  sendRequest(
    clusterId: number,
    dst: number,
    msg: string,
    tag = this.newTag(clusterId),
  ): { result: SendResult; tag: string } {
    const result = this.sendRouted(clusterId, dst, {
      kind: 'generic_msg',
      cluster: clusterId,
      src: this.myNodeId,
      dst,
      request: true,
      tag,
      msg,
    });
    return { result, tag };
  }

  /** `cluster_broadcast_req`. */
  broadcastRequest(
    clusterId: number,
    msg: string,
    tag = this.newTag(clusterId),
  ): { result: SendResult; tag: string } {
    const result = this.broadcast(clusterId, (dst) => ({
      kind: 'generic_msg',
      cluster: clusterId,
      src: this.myNodeId,
      dst,
      request: true,
      tag,
      msg,
    }));
    return { result, tag };
  }

  /** `cluster_send_rpl`: answer a request, echoing its tag. */
  sendReply(clusterId: number, dst: number, tag: string, msg: string): SendResult {
    return this.sendRouted(clusterId, dst, {
      kind: 'generic_msg',
      cluster: clusterId,
      src: this.myNodeId,
      dst,
      request: false,
      tag,
      msg,
    });
  }

  /** Send an MI_CMD (string params only, at most 10). */
  sendMiCommand(clusterId: number, dst: number, command: string, params: string[]): SendResult {
    return this.sendRouted(clusterId, dst, {
      kind: 'mi_cmd',
      cluster: clusterId,
      src: this.myNodeId,
      dst,
      command,
      params,
    });
  }

  /** Send any clusterer-extra packet (sync, sharing tags) toward dst. */
  sendExtra(clusterId: number, dst: number, p: RoutedPacket): SendResult {
    return this.sendRouted(clusterId, dst, p);
  }

  /**
   * `clusterer_set_status`: enable or disable a remote node, or (nodeId omitted) the local
   * node. Disabling the local node makes it silent: every link DOWN, all traffic ignored.
   */
  setState(clusterId: number, enabled: boolean, nodeId?: number): void {
    const cl = this.clusters.get(clusterId);
    if (cl === undefined) throw new ClustererConfigError('Cluster id not found');
    if (nodeId === undefined || nodeId === this.myNodeId) {
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
      this.dirty.add(cl);
      this.store?.setState?.(clusterId, this.myNodeId, enabled);
    } else {
      const n = cl.nodes.get(nodeId);
      if (n === undefined) throw new ClustererConfigError('Node id not found');
      n.enabled = enabled;
      if (!enabled) this.setLink(cl, n, LinkState.DOWN);
      else this.setLink(cl, n, LinkState.RESTART_PINGING);
      this.dirty.add(cl);
      this.store?.setState?.(clusterId, nodeId, enabled);
    }
    this.settle();
  }

  /** `clusterer_remove_node` (db_mode=0): tell every node, then forget it here. */
  removeNode(clusterId: number, nodeId: number): void {
    if (this.dbMode !== 0) throw new ClustererConfigError('Running in DB mode');
    const cl = this.clusters.get(clusterId);
    if (cl === undefined) throw new ClustererConfigError('Cluster id not found');
    if (!cl.nodes.has(nodeId)) throw new ClustererConfigError('Node id not found');
    this.broadcast(clusterId, (dst) => ({
      kind: 'remove_node',
      cluster: clusterId,
      src: this.myNodeId,
      dst,
      target: nodeId,
    }));
    this.removeNodeLocally(cl, nodeId);
  }

  private removeNodeLocally(cl: ClusterState, target: number): void {
    if (target === this.myNodeId) {
      this.setState(cl.id, false);
      return;
    }
    const n = cl.nodes.get(target);
    if (n === undefined) return;
    if (n.link === LinkState.UP) this.setLink(cl, n, LinkState.DOWN);
    n.enabled = false;
    this.dirty.add(cl);
    this.settle();
    cl.nodes.delete(target);
    for (const other of cl.nodes.values()) other.neighbours.delete(target);
    cl.topVersion++;
    this.dirty.add(cl);
    this.settle();
  }

  /** Typed listeners for the sync and sharing-tag events. */
  onCapStatus(fn: (e: CapStatusEvent) => void): () => void {
    this.on('cap_status', fn);
    return () => this.off('cap_status', fn);
  }
  onShtagChange(fn: (e: ShtagChangeEvent) => void): () => void {
    this.on('shtag_changed', fn);
    return () => this.off('shtag_changed', fn);
  }

  /** Link state label as `clusterer_list` shows it. */
  static linkLabel(s: LinkState): 'Up' | 'Down' | 'Probe' {
    return s === LinkState.UP ? 'Up' : s === LinkState.DOWN ? 'Down' : 'Probe';
  }
}
