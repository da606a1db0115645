import type { RoutedPacket } from '../bin/packet.js';
import type { ClusterClock, Logger } from '../runtime.js';

/** Status/report values of a capability (`enum cap_sr_status`); readiness is status ≥ 0. */
export const CapStatus = { NOT_SYNCED: -3, PENDING: -2, IN_PROGRESS: -1, SYNCED: 1 } as const;
export type CapStatus = (typeof CapStatus)[keyof typeof CapStatus];

export function capStatusLabel(s: CapStatus): string {
  switch (s) {
    case CapStatus.NOT_SYNCED:
      return 'not synced';
    case CapStatus.PENDING:
      return 'sync pending';
    case CapStatus.IN_PROGRESS:
      return 'sync in progress';
    default:
      return 'synced';
  }
}

/** Which nodes may be donors, by their `sip_addr` compared with mine (`sync_cond`). */
export type SyncCondition = 'any' | 'eq_sip_addr' | 'neq_sip_addr';

/** Sipedge-only capability carrying the dataset digest of a sync (OpenSIPS drops it unread). */
export const SIPEDGE_SYNC_CAP = 'sipedge-sync';
export const SIPEDGE_SYNC_DIGEST = 1;
/** Anti-entropy: `str capability, str digest, int is_reply` (merge-mode capabilities). */
export const SIPEDGE_SYNC_COMPARE = 2;
/**
 * Sent by a sipedge donor (through the same ordered queue) before the first SYNC of each
 * reply: `str capability`. A receiver that has seen one from a donor takes that donor's
 * SYNC, digest and SYNC_END only after the start of the reply to its latest request, so the
 * tail of an abandoned earlier reply still in the pipe is never counted into a new sync.
 */
export const SIPEDGE_SYNC_STREAM_START = 3;

export interface SyncMeta {
  clusterId: number;
  srcId: number;
  dataVersion: number;
}

/** Collects the chunks of a sync reply on the donor (`sync_chunk_start` once per item). */
export interface SyncWriter {
  chunk(data: Buffer): void;
}

/**
 * A pull-based sync reply (`openSync`): the donor's clusterer takes chunks from `items` only
 * as fast as the link to the receiver drains, so memory stays bounded whatever the dataset.
 * Items are read over time, interleaved with the node's other work: a module hands out each
 * item as it is when read (changes made meanwhile also reach the receiver as replication
 * packets, which it holds and replays after the sync). `digest`, if given, is read after the
 * last item and must describe exactly the items handed out (the receiver compares it with
 * its own `digest()` in 'replace' mode); without it the module's `digest()` at the end is sent.
 */
export interface SyncSource {
  readonly items: Iterator<Buffer>;
  digest?(): string;
  /** The stream was abandoned (receiver gone, new request): release what it holds. */
  close?(): void;
}

export interface CapabilityOptions {
  /** Cluster whose sync state this capability keeps (default: the first cluster). */
  clusterId?: number;
  /** Ask a donor for the whole dataset at startup (default false: starts synced). */
  startupSync?: boolean;
  syncCond?: SyncCondition;
  /** The module's own data format version carried in SYNC packets (default 1). */
  dataVersion?: number;
  /**
   * 'replace' (default): the module drops its data on `onSyncStart` and ends with exactly the
   * donor's snapshot, verified against the donor's digest. 'merge': the module keeps its data
   * and merges the snapshot (a resync after a partition); the digest cannot be compared then.
   */
  syncMode?: 'replace' | 'merge';
  /**
   * Merge mode only: when a node comes (back) up and advertises this capability as synced
   * (a healed partition, a restarted node that kept its data), merge a full sync from it
   * (default false). A node that comes up not synced is itself syncing from the cluster: it is
   * not asked (it would send back what it is being sent); whatever it held alone reaches the
   * others through anti-entropy.
   */
  resyncOnNodeUp?: boolean;
}

export interface CapStatusEvent {
  clusterId: number;
  capability: string;
  status: CapStatus;
  report: string;
}

export interface SyncOptions {
  /** Seed fallback after this many seconds pending without a donor, counted from readiness (5). */
  seedFallbackInterval?: number;
  /** Seconds without a sync packet (or an answer to SYNC_REQ) before the sync fails (15). */
  syncTimeout?: number;
  /** Soft limit for the bytes of one SYNC packet (32768, as OpenSIPS's code). */
  syncPacketSize?: number;
  /** First retry delay after a failed sync, doubled per attempt (500 ms). */
  syncRetryMinMs?: number;
  /** Largest retry delay (10 s). */
  syncRetryMaxMs?: number;
  /** Replication packets kept while not synced (100,000); beyond it a new sync follows. */
  syncBufferMax?: number;
  /**
   * Seconds between anti-entropy rounds (default 30; 0 = off): a synced merge-mode capability
   * with a digest compares it with one synced node per round; on mismatch both merge a
   * full sync from each other.
   */
  antiEntropyInterval?: number;
}

/** What the sync engine needs from the clusterer that owns it. */
export interface SyncHost {
  readonly myNodeId: number;
  now(): number;
  count(name: string, n?: number): void;
  isSeed(clusterId: number): boolean;
  mySipAddr(clusterId: number): string;
  /** Reachable, enabled remote nodes: id, sip_addr, priority, direct link, capability OK. */
  candidates(
    clusterId: number,
    cap: string,
  ): {
    id: number;
    sipAddr: string;
    priority: number;
    direct: boolean;
    ok: boolean;
    /** Its state for the capability was learnt since it (last) came up. */
    known: boolean;
  }[];
  reachable(clusterId: number, nodeId: number): boolean;
  sendRouted(clusterId: number, dst: number, p: RoutedPacket): number;
  /**
   * Send a sync-stream packet toward dst behind the link's control traffic (pings, pongs,
   * replication go first). Without it, `sendRouted` is used.
   */
  sendBulk?(clusterId: number, dst: number, p: RoutedPacket): number;
  /**
   * May another bulk packet toward dst be queued now? When the host has this, it must call
   * `SyncEngine.pump()` once room returns (the link drained); without it the engine sends a
   * bounded burst per timer turn.
   */
  bulkRoom?(clusterId: number, dst: number): boolean;
  /** Tell my neighbours my capability states (CAP_UPDATE with my entry). */
  advertise(clusterId: number): void;
  emitStatus(e: CapStatusEvent): void;
}

/** A module packet as kept while a capability is not synced. */
export interface HeldPacket {
  deliver(): void;
}

export interface CapHandlersForSync {
  /**
   * Build the whole sync reply at once (OpenSIPS's model). Prefer `openSync`: with this one
   * the donor holds every chunk of the reply in memory until it is sent.
   */
  onSyncRequest?(target: { clusterId: number; nodeId: number }, out: SyncWriter): void;
  /** A sync reply streamed with backpressure (used instead of `onSyncRequest` when present). */
  openSync?(target: { clusterId: number; nodeId: number }): SyncSource;
  onSyncStart?(meta: SyncMeta): void;
  /** One chunk: a view into the received packet (never written again; no copy is made). */
  onSyncChunk?(chunk: Buffer, meta: SyncMeta): void;
  onSyncDone?(meta: SyncMeta): void;
  digest?(): string;
}

/** Sync state of one local capability in one cluster. */
export class LocalCapability {
  status: CapStatus;
  enabled = true;
  /** A full sync is wanted (until it succeeds or the capability is disabled). */
  wantSync = false;
  /** SYNC_REQ sent to `donor` and not failed yet. */
  requestOut = false;
  donor: number | undefined;
  pendingSince = 0;
  requestedAt = 0;
  lastSyncPacket = 0;
  chunks = 0;
  endCount: number | undefined;
  expectedDigest: string | undefined;
  attempt = 0;
  nextRetryAt = 0;
  readonly failedDonors = new Map<number, number>();
  readonly held: HeldPacket[] = [];
  overflowed = false;
  lastReport = '';
  syncsCompleted = 0;
  syncsFailed = 0;
  /** Receiving SYNC data now (status -1, or a background merge while synced). */
  inProgress = false;
  /** A merge resync of a synced capability: it stays synced (and a donor) meanwhile. */
  background = false;
  aeNext = 0;
  /** Donor asked for by requestSync(name, from), used first when it qualifies. */
  preferDonor: number | undefined;
  /**
   * A donor was found and asked since the last completed sync. A seed node falls back to
   * "synced" only when this is false: a sync that broke part way (donor gone, timeout, bad
   * data) left partial data, which must never be called synced.
   */
  hadDonor = false;
  /** A stream start from the donor arrived for the current request (sipedge donors). */
  streamOpen = false;
  /** Nodes that came up while this capability was synced: resync from each once it says synced. */
  readonly resyncWait = new Set<number>();

  constructor(
    readonly name: string,
    readonly clusterId: number,
    readonly handlers: CapHandlersForSync,
    readonly startupSync: boolean,
    readonly syncCond: SyncCondition,
    readonly dataVersion: number,
    readonly syncMode: 'replace' | 'merge' = 'replace',
    readonly resyncOnNodeUp = false,
  ) {
    this.status = startupSync ? CapStatus.NOT_SYNCED : CapStatus.SYNCED;
  }

  get ok(): boolean {
    return this.enabled && this.status === CapStatus.SYNCED;
  }
}

/** One sync reply being streamed to a receiver (donor side). */
interface SyncStream {
  readonly cap: LocalCapability;
  readonly dst: number;
  readonly items: Iterator<Buffer>;
  readonly digest: (() => string) | undefined;
  readonly close: (() => void) | undefined;
  /** An item taken from `items` that did not fit in the previous packet. */
  carry: Buffer | undefined;
  total: number;
  packets: number;
  /** The stream-start marker went out. */
  opened: boolean;
  lastProgress: number;
}

/** Bytes a donor without link flow control sends per timer turn before yielding. */
const BURST_BYTES = 1 << 20;

/**
 * Capability sync (digest §6) with sipedge's additions: donors ranked (direct link, priority,
 * node id) and failed donors avoided, automatic retry with bounded backoff after a timeout, a
 * broken stream or a vanished donor, and a dataset digest checked before declaring "synced".
 */
export class SyncEngine {
  readonly caps = new Map<string, LocalCapability>();
  private readonly queued = new Map<string, Set<number>>();
  private readyAt = 0;
  private readonly seedFallbackMs: number;
  private readonly timeoutMs: number;
  readonly packetSize: number;
  private readonly retryMin: number;
  private readonly retryMax: number;
  private readonly bufferMax: number;
  private readonly aeMs: number;
  private aeTurn = 0;
  /** Sync replies being streamed, by `capability/dst`. */
  private readonly streams = new Map<string, SyncStream>();
  private pumpTimer: unknown;
  /** Donors known to send SIPEDGE_SYNC_STREAM_START (sipedge nodes). */
  private readonly marksStreams = new Set<string>();
  private pumping = false;

  constructor(
    private readonly host: SyncHost,
    private readonly log: Logger,
    private readonly clock: ClusterClock,
    o: SyncOptions = {},
  ) {
    this.seedFallbackMs = Math.round((o.seedFallbackInterval ?? 5) * 1000);
    this.timeoutMs = Math.round((o.syncTimeout ?? 15) * 1000);
    this.packetSize = Math.max(64, Math.min(o.syncPacketSize ?? 32768, 65000));
    this.retryMin = o.syncRetryMinMs ?? 500;
    this.retryMax = o.syncRetryMaxMs ?? 10_000;
    this.bufferMax = o.syncBufferMax ?? 100_000;
    this.aeMs = Math.round((o.antiEntropyInterval ?? 30) * 1000);
  }

  private antiEntropy(c: LocalCapability, now: number): void {
    c.aeNext = now + this.aeMs;
    if (c.syncMode !== 'merge' || c.handlers.digest === undefined) return;
    const peers = this.host
      .candidates(c.clusterId, c.name)
      .filter((n) => n.ok)
      .map((n) => n.id)
      .sort((a, b) => a - b);
    if (peers.length === 0) return;
    const dst = peers[this.aeTurn++ % peers.length] as number;
    this.sendCompare(c, dst, false);
  }

  private sendCompare(c: LocalCapability, dst: number, reply: boolean): void {
    const name = Buffer.from(c.name);
    const d = Buffer.from(c.handlers.digest?.() ?? '');
    const body = Buffer.alloc(2 + name.length + 2 + d.length + 4);
    let o = body.writeUInt16LE(name.length, 0);
    o += name.copy(body, o);
    o = body.writeUInt16LE(d.length, o);
    o += d.copy(body, o);
    body.writeInt32LE(reply ? 1 : 0, o);
    this.host.count('anti_entropy_sent');
    this.host.sendRouted(c.clusterId, dst, {
      kind: 'module',
      cluster: c.clusterId,
      src: this.host.myNodeId,
      dst,
      capability: SIPEDGE_SYNC_CAP,
      version: 1,
      type: SIPEDGE_SYNC_COMPARE,
      body,
    });
  }

  /** Anti-entropy digest from `src`: on mismatch merge its data (and make it merge ours). */
  onCompare(clusterId: number, src: number, body: Buffer): void {
    try {
      const nl = body.readUInt16LE(0);
      const name = body.toString('utf8', 2, 2 + nl);
      let o = 2 + nl;
      const dl = body.readUInt16LE(o);
      o += 2;
      if (o + dl + 4 > body.length) throw new RangeError('short');
      const digest = body.toString('utf8', o, o + dl);
      const reply = body.readInt32LE(o + dl) === 1;
      const c = this.get(name, clusterId);
      if (c === undefined || !c.ok || c.syncMode !== 'merge' || c.handlers.digest === undefined)
        return void this.host.count('drop_anti_entropy');
      if (c.handlers.digest() === digest) return;
      this.host.count('anti_entropy_mismatch');
      if (!reply) this.sendCompare(c, src, true);
      this.requestSync(name, src);
    } catch {
      this.host.count('drop_anti_entropy');
    }
  }

  /** The node became ready (start()): seed fallback is counted from here. */
  ready(): void {
    this.readyAt = this.clock.now();
    for (const c of this.caps.values()) if (c.wantSync) this.tryDonor(c);
  }

  add(cap: LocalCapability): void {
    this.caps.set(cap.name, cap);
    if (cap.startupSync) this.requestSync(cap.name);
  }

  get(name: string, clusterId?: number): LocalCapability | undefined {
    const c = this.caps.get(name);
    return c !== undefined && (clusterId === undefined || c.clusterId === clusterId)
      ? c
      : undefined;
  }

  private setStatus(c: LocalCapability, status: CapStatus, report: string): void {
    if (c.background && status !== CapStatus.SYNCED) {
      if (report !== c.lastReport) {
        c.lastReport = report;
        this.host.emitStatus({
          clusterId: c.clusterId,
          capability: c.name,
          status: c.status,
          report,
        });
      }
      return;
    }
    const changed = status !== c.status || report !== c.lastReport;
    const wasOk = c.ok;
    c.status = status;
    if (!changed) return;
    c.lastReport = report;
    this.log.info({ capability: c.name, cluster: c.clusterId, status }, report);
    this.host.emitStatus({ clusterId: c.clusterId, capability: c.name, status, report });
    if (wasOk && !c.ok) this.abortStreamsOf(c);
    if (wasOk !== c.ok) this.host.advertise(c.clusterId);
  }

  /** Ask for a full sync (`request_sync`): a no-op while one is pending or in progress. */
  requestSync(name: string, from?: number): boolean {
    const c = this.caps.get(name);
    if (c === undefined || !c.enabled) return false;
    if (from !== undefined) c.preferDonor = from;
    if (c.requestOut || c.inProgress) return true;
    c.background = c.ok && c.syncMode === 'merge';
    c.wantSync = true;
    c.pendingSince = this.clock.now();
    c.chunks = 0;
    c.endCount = undefined;
    c.expectedDigest = undefined;
    this.tryDonor(c);
    return true;
  }

  private pickDonor(c: LocalCapability): number | undefined {
    const mine = this.host.mySipAddr(c.clusterId);
    const now = this.clock.now();
    const list = this.host.candidates(c.clusterId, c.name).filter((n) => {
      if (!n.ok) return false;
      if (c.syncCond === 'eq_sip_addr') return n.sipAddr === mine;
      if (c.syncCond === 'neq_sip_addr') return n.sipAddr !== mine;
      return true;
    });
    const failed = (id: number): number => (this.recentlyFailed(c, id, now) ? 1 : 0);
    const pref = c.preferDonor;
    if (pref !== undefined && list.some((n) => n.id === pref) && failed(pref) === 0) return pref;
    list.sort(
      (a, b) =>
        failed(a.id) - failed(b.id) ||
        Number(b.direct) - Number(a.direct) ||
        a.priority - b.priority ||
        a.id - b.id,
    );
    return list[0]?.id;
  }

  private tryDonor(c: LocalCapability): void {
    if (!c.wantSync || !c.enabled || c.requestOut || c.inProgress) return;
    if (this.clock.now() < c.nextRetryAt) return;
    const donor = this.pickDonor(c);
    if (donor !== undefined) {
      const r = this.host.sendRouted(c.clusterId, donor, {
        kind: 'sync_req',
        cluster: c.clusterId,
        src: this.host.myNodeId,
        dst: donor,
        capability: c.name,
      });
      if (r === 1) {
        this.host.count('sync_requests_sent');
        c.hadDonor = true;
        c.streamOpen = false;
        c.requestOut = true;
        c.donor = donor;
        c.preferDonor = undefined;
        c.requestedAt = this.clock.now();
        this.setStatus(c, CapStatus.PENDING, `Sync requested from node [${donor}]`);
        return;
      }
      c.failedDonors.set(donor, this.clock.now());
    }
    this.setStatus(c, CapStatus.PENDING, 'Sync request postponed (no donor available)');
  }

  private fail(c: LocalCapability, report: string, immediate = false): void {
    const now = this.clock.now();
    c.streamOpen = false;
    if (c.donor !== undefined) c.failedDonors.set(c.donor, now);
    c.requestOut = false;
    c.inProgress = false;
    c.donor = undefined;
    c.endCount = undefined;
    c.expectedDigest = undefined;
    c.attempt++;
    c.syncsFailed++;
    this.host.count('sync_failures');
    const delay = Math.min(this.retryMax, this.retryMin * 2 ** Math.min(c.attempt - 1, 20));
    c.nextRetryAt = now + delay;
    // at once only toward another donor: the same one (or nobody) waits out the backoff, so a
    // donor that keeps sending bad data cannot make us spin
    if (immediate) {
      const next = this.pickDonor(c);
      if (next !== undefined && !this.recentlyFailed(c, next, now)) c.nextRetryAt = now;
    }
    this.setStatus(c, CapStatus.NOT_SYNCED, report);
    this.tryDonor(c);
  }

  private recentlyFailed(c: LocalCapability, id: number, now: number): boolean {
    const t = c.failedDonors.get(id);
    return t !== undefined && now - t < this.retryMax * 3;
  }

  private succeed(c: LocalCapability, meta: SyncMeta): void {
    const n = c.chunks;
    c.streamOpen = false;
    c.requestOut = false;
    c.inProgress = false;
    c.background = false;
    c.donor = undefined;
    c.wantSync = false;
    c.attempt = 0;
    c.hadDonor = false;
    c.failedDonors.clear();
    c.syncsCompleted++;
    this.host.count('syncs_completed');
    // replay the replication packets that arrived while not synced, in arrival order
    const held = c.held.splice(0);
    this.setStatus(c, CapStatus.SYNCED, `Sync completed, received [${n}] chunks`);
    for (const h of held) h.deliver();
    c.handlers.onSyncDone?.(meta);
    if (c.overflowed) {
      c.overflowed = false;
      this.requestSync(c.name);
    }
  }

  /** A module packet for `name`: keep it while the capability waits for or runs a sync. */
  hold(name: string, clusterId: number, p: HeldPacket): boolean {
    const c = this.get(name, clusterId);
    if (c === undefined || !c.wantSync || c.background) return false;
    if (c.held.length >= this.bufferMax) {
      c.held.length = 0;
      c.overflowed = true;
      this.host.count('sync_buffer_overflow');
    }
    c.held.push(p);
    return true;
  }

  tick(): void {
    const now = this.clock.now();
    for (const st of [...this.streams.values()]) {
      if (now - st.lastProgress >= this.timeoutMs) {
        this.host.count('sync_streams_stalled');
        this.abortStream(st);
      }
    }
    if (this.streams.size > 0) this.pump();
    for (const c of this.caps.values()) {
      if (!c.wantSync || !c.enabled) {
        if (c.ok && this.aeMs > 0 && now >= c.aeNext) this.antiEntropy(c, now);
        continue;
      }
      if (c.inProgress) {
        if (now - c.lastSyncPacket >= this.timeoutMs)
          this.fail(c, `Sync timed out, received [${c.chunks}] chunks`);
        continue;
      }
      if (c.requestOut) {
        if (now - c.requestedAt >= this.timeoutMs)
          this.fail(c, `Sync request to node [${c.donor}] not answered`);
        continue;
      }
      this.tryDonor(c);
      // only a seed that never found a donor falls back; one whose sync broke part way holds
      // partial data and waits for a donor however long it takes
      if (
        !c.requestOut &&
        !c.background &&
        !c.hadDonor &&
        this.host.isSeed(c.clusterId) &&
        now - Math.max(this.readyAt, c.pendingSince) >= this.seedFallbackMs &&
        this.pickDonor(c) === undefined
      ) {
        c.wantSync = false;
        const held = c.held.splice(0);
        this.setStatus(c, CapStatus.SYNCED, 'No donor found, falling back to synced state');
        for (const h of held) h.deliver();
        this.log.error({ capability: c.name }, 'seed node fell back to synced without a donor');
      }
    }
  }

  /** Reachability of a node changed. */
  nodeState(clusterId: number, nodeId: number, up: boolean): void {
    for (const c of this.caps.values()) {
      if (c.clusterId !== clusterId) continue;
      if (!up) {
        c.resyncWait.delete(nodeId);
        // a stream to it pauses (its TCP connection may well be intact: a receiver busy with a
        // long GC misses pongs); `connectionLost` or the stall timeout ends it
        if (c.donor === nodeId && (c.requestOut || c.inProgress))
          this.fail(c, `Donor node [${nodeId}] became unreachable`, true);
        continue;
      }
      const q = this.queued.get(c.name);
      if (q?.delete(nodeId)) this.answer(c, nodeId);
      if (c.resyncOnNodeUp && c.syncMode === 'merge' && c.ok) {
        c.resyncWait.add(nodeId);
        this.resyncFromUp(c);
      }
      this.tryDonor(c);
    }
    // streams paused while it was unreachable go on
    if (up && this.streams.size > 0) this.pump();
  }

  /** The connection to nodeId broke: packets queued for it are gone, so its streams end. */
  connectionLost(clusterId: number, nodeId: number): void {
    for (const st of [...this.streams.values()])
      if (st.dst === nodeId && st.cap.clusterId === clusterId) this.abortStream(st);
  }

  /** New capability states learnt from a CAP_UPDATE. */
  remoteCaps(clusterId: number): void {
    for (const c of this.caps.values()) {
      if (c.clusterId !== clusterId) continue;
      this.resyncFromUp(c);
      this.tryDonor(c);
    }
  }

  /** `resyncOnNodeUp`: ask each node that came up, once its state is known, if it is synced. */
  private resyncFromUp(c: LocalCapability): void {
    if (c.resyncWait.size === 0) return;
    if (!c.ok) return void c.resyncWait.clear(); // a sync of our own is due anyway
    const peers = new Map(this.host.candidates(c.clusterId, c.name).map((n) => [n.id, n]));
    for (const id of [...c.resyncWait]) {
      const n = peers.get(id);
      if (n === undefined) c.resyncWait.delete(id);
      else if (n.known) {
        c.resyncWait.delete(id);
        if (n.ok) {
          this.host.count('resyncs_on_node_up');
          this.requestSync(c.name, id);
        }
      }
    }
  }

  // -------------------------------------------------------------- donor side

  onSyncRequest(clusterId: number, src: number, name: string): void {
    const c = this.get(name, clusterId);
    if (c === undefined) return void this.host.count('drop_sync_req_unknown_cap');
    if (!c.enabled) return void this.host.count('drop_sync_req_disabled');
    if (!c.ok) {
      // a stale view made us look synced: say so again instead of sending partial data
      this.host.count('drop_sync_req_not_synced');
      this.host.advertise(clusterId);
      return;
    }
    if (!this.host.reachable(clusterId, src)) {
      const q = this.queued.get(name) ?? new Set<number>();
      this.queued.set(name, q);
      q.add(src);
      return;
    }
    this.answer(c, src);
  }

  /**
   * Start streaming the reply to dst. With `openSync` the module's items are pulled as the
   * link drains; with `onSyncRequest` the reply is built at once (a consistent snapshot, held
   * in memory) and then streamed the same way. A new request from the same node replaces the
   * stream it had.
   */
  private answer(c: LocalCapability, dst: number): void {
    const key = streamKey(c.name, dst);
    const old = this.streams.get(key);
    if (old !== undefined) this.abortStream(old);
    const target = { clusterId: c.clusterId, nodeId: dst };
    let items: Iterator<Buffer>;
    let digest: (() => string) | undefined;
    let close: (() => void) | undefined;
    try {
      if (c.handlers.openSync !== undefined) {
        const src = c.handlers.openSync(target);
        items = src.items;
        const d = src.digest?.bind(src) ?? c.handlers.digest?.bind(c.handlers);
        digest = d;
        close = src.close?.bind(src);
      } else {
        const all: Buffer[] = [];
        c.handlers.onSyncRequest?.(target, { chunk: (data: Buffer) => void all.push(data) });
        items = all.values();
        const d = c.handlers.digest?.();
        digest = d === undefined ? undefined : () => d;
      }
    } catch (e) {
      this.host.count('sync_reply_errors');
      this.log.error({ err: e, capability: c.name }, 'module failed to build a sync reply');
      return;
    }
    this.streams.set(key, {
      cap: c,
      dst,
      items,
      digest,
      close,
      carry: undefined,
      total: 0,
      packets: 0,
      opened: false,
      lastProgress: this.clock.now(),
    });
    this.host.count('sync_streams_started');
    this.pump();
  }

  /** Number of sync replies being streamed from this node. */
  get activeStreams(): number {
    return this.streams.size;
  }

  private abortStream(st: SyncStream): void {
    if (this.streams.get(streamKey(st.cap.name, st.dst)) !== st) return;
    this.streams.delete(streamKey(st.cap.name, st.dst));
    this.host.count('sync_streams_aborted');
    try {
      st.close?.();
    } catch {
      // the module's cleanup failing changes nothing here
    }
  }

  private abortStreamsOf(c: LocalCapability): void {
    for (const st of [...this.streams.values()]) if (st.cap === c) this.abortStream(st);
  }

  /**
   * Move every sync stream forward while its link has room (called again by the host when a
   * link drains, and from each tick). Without link flow control, one burst per timer turn.
   */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    let more = false;
    try {
      for (const st of [...this.streams.values()]) if (this.pumpOne(st)) more = true;
    } finally {
      this.pumping = false;
    }
    if (more && this.pumpTimer === undefined) {
      this.pumpTimer = this.clock.setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, 0);
    }
  }

  /** Returns true when the stream stopped only for its burst budget (no flow control). */
  private pumpOne(st: SyncStream): boolean {
    const c = st.cap;
    const room = this.host.bulkRoom;
    const send = (p: RoutedPacket): boolean => {
      const r =
        this.host.sendBulk?.(c.clusterId, st.dst, p) ??
        this.host.sendRouted(c.clusterId, st.dst, p);
      if (r === 1) return true;
      this.host.count('sync_send_failed');
      this.abortStream(st);
      return false;
    };
    const head = 12 + 15 + 4 + 2 + Buffer.byteLength(c.name) + 4 + 12;
    const limit = this.packetSize;
    const max = 65535 - head - 8;
    const base = { cluster: c.clusterId, src: this.host.myNodeId, dst: st.dst, capability: c.name };
    let budget = BURST_BYTES;
    if (st.packets === 0 && !st.opened) {
      if (!this.host.reachable(c.clusterId, st.dst)) return false;
      const name = Buffer.from(c.name);
      const body = Buffer.alloc(2 + name.length);
      body.writeUInt16LE(name.length, 0);
      name.copy(body, 2);
      const p: RoutedPacket = {
        kind: 'module',
        ...base,
        capability: SIPEDGE_SYNC_CAP,
        version: 1,
        type: SIPEDGE_SYNC_STREAM_START,
        body,
      };
      if (!send(p)) return false;
      st.opened = true;
    }
    for (;;) {
      if (this.streams.get(streamKey(c.name, st.dst)) !== st) return false;
      // paused while unreachable; resumes on NODE_UP, ends after sync_timeout without progress
      if (!this.host.reachable(c.clusterId, st.dst)) return false;
      if (room !== undefined) {
        if (!room.call(this.host, c.clusterId, st.dst)) return false;
      } else if (budget <= 0) return true;
      const chunks: Buffer[] = [];
      let size = 0;
      let ended = false;
      for (;;) {
        let data = st.carry;
        st.carry = undefined;
        if (data === undefined) {
          let r: IteratorResult<Buffer>;
          try {
            r = st.items.next();
          } catch (e) {
            this.host.count('sync_reply_errors');
            this.log.error({ err: e, capability: c.name }, 'module failed mid sync reply');
            this.abortStream(st);
            return false;
          }
          if (r.done === true) {
            ended = true;
            break;
          }
          data = r.value;
        }
        if (data.length > max) {
          this.host.count('sync_reply_errors');
          this.log.error({ capability: c.name, bytes: data.length }, 'sync chunk too large');
          this.abortStream(st);
          return false;
        }
        const add = data.length + 8;
        if (chunks.length > 0 && head + size + add > limit) {
          st.carry = data;
          break;
        }
        chunks.push(data);
        size += add;
      }
      if (chunks.length > 0) {
        if (!send({ kind: 'sync', ...base, dataVersion: c.dataVersion, chunks })) return false;
        st.total += chunks.length;
        st.packets++;
        st.lastProgress = this.clock.now();
        budget -= head + size;
        this.host.count('sync_packets_sent');
      }
      if (!ended) continue;
      this.streams.delete(streamKey(c.name, st.dst));
      const digest = st.digest?.();
      if (digest !== undefined) {
        const name = Buffer.from(c.name);
        const d = Buffer.from(digest);
        const body = Buffer.alloc(2 + name.length + 4 + 2 + d.length);
        let o = body.writeUInt16LE(name.length, 0);
        o += name.copy(body, o);
        o = body.writeInt32LE(st.total, o);
        o = body.writeUInt16LE(d.length, o);
        d.copy(body, o);
        const p: RoutedPacket = {
          kind: 'module',
          ...base,
          capability: SIPEDGE_SYNC_CAP,
          version: 1,
          type: SIPEDGE_SYNC_DIGEST,
          body,
        };
        if (!send(p)) return false;
      }
      if (!send({ kind: 'sync_end', ...base, chunks: st.total })) return false;
      this.host.count('syncs_served');
      return false;
    }
  }

  // -------------------------------------------------------------- receiver side

  private expecting(c: LocalCapability | undefined, src: number): c is LocalCapability {
    if (c?.wantSync !== true || c.donor !== src || !(c.requestOut || c.inProgress)) return false;
    if (!c.streamOpen && this.marksStreams.has(`${c.clusterId}/${src}`)) {
      // the tail of an earlier reply from this donor, before the start of the current one
      this.host.count('drop_stale_sync');
      return false;
    }
    return true;
  }

  /** SIPEDGE_SYNC_STREAM_START from `src`: the reply to our latest request begins. */
  onStreamStart(clusterId: number, src: number, body: Buffer): void {
    let name: string;
    try {
      const nl = body.readUInt16LE(0);
      if (2 + nl > body.length) throw new RangeError('short');
      name = body.toString('utf8', 2, 2 + nl);
    } catch {
      return void this.host.count('drop_bad_sync_digest');
    }
    this.marksStreams.add(`${clusterId}/${src}`);
    const c = this.get(name, clusterId);
    if (c?.wantSync !== true || c.donor !== src || !(c.requestOut || c.inProgress))
      return void this.host.count('drop_unexpected_sync');
    // a second start (we asked again meanwhile): what came before belongs to the older reply
    c.streamOpen = true;
    c.requestOut = true;
    c.requestedAt = this.clock.now();
    c.inProgress = false;
    c.chunks = 0;
    c.endCount = undefined;
    c.expectedDigest = undefined;
  }

  private begin(c: LocalCapability, meta: SyncMeta): boolean {
    if (c.inProgress) return true;
    c.chunks = 0;
    c.inProgress = true;
    try {
      c.handlers.onSyncStart?.(meta);
    } catch {
      this.fail(c, 'Module refused the sync start');
      return false;
    }
    this.setStatus(c, CapStatus.IN_PROGRESS, `Sync started from node [${meta.srcId}]`);
    return true;
  }

  onSync(
    clusterId: number,
    src: number,
    version: number,
    p: { capability: string; dataVersion: number; chunks: Buffer[] },
  ): void {
    if (version !== 3) return void this.host.count('drop_sync_bad_version');
    const c = this.get(p.capability, clusterId);
    if (!this.expecting(c, src)) return void this.host.count('drop_unexpected_sync');
    const meta: SyncMeta = { clusterId, srcId: src, dataVersion: p.dataVersion };
    if (!this.begin(c, meta)) return;
    c.lastSyncPacket = this.clock.now();
    for (const chunk of p.chunks) {
      try {
        c.handlers.onSyncChunk?.(chunk, meta);
      } catch {
        this.host.count('sync_bad_chunk');
        return void this.fail(c, `Broken chunk after [${c.chunks}] chunks`, true);
      }
      c.chunks++;
    }
    this.check(c, meta);
  }

  /** A SYNC packet that could not be decoded (broken chunk framing) from `src`. */
  onBrokenSync(clusterId: number, src: number, capability: string): void {
    const c = this.get(capability, clusterId);
    if (!this.expecting(c, src)) return;
    this.host.count('sync_bad_chunk');
    this.fail(c, `Broken sync packet after [${c.chunks}] chunks`, true);
  }

  onDigest(clusterId: number, src: number, body: Buffer): void {
    try {
      let o = 0;
      const nl = body.readUInt16LE(o);
      const name = body.toString('utf8', 2, 2 + nl);
      o = 2 + nl;
      const total = body.readInt32LE(o);
      const dl = body.readUInt16LE(o + 4);
      if (o + 6 + dl > body.length) throw new RangeError('short');
      const digest = body.toString('utf8', o + 6, o + 6 + dl);
      const c = this.get(name, clusterId);
      if (!this.expecting(c, src)) return void this.host.count('drop_unexpected_sync');
      c.expectedDigest = `${total}:${digest}`;
    } catch {
      this.host.count('drop_bad_sync_digest');
    }
  }

  onSyncEnd(clusterId: number, src: number, version: number, capability: string, n?: number): void {
    if (version !== 3 || n === undefined) return void this.host.count('drop_sync_bad_version');
    const c = this.get(capability, clusterId);
    if (!this.expecting(c, src)) return void this.host.count('drop_unexpected_sync');
    const meta: SyncMeta = { clusterId, srcId: src, dataVersion: c.dataVersion };
    if (n < 0) return void this.fail(c, `Bad chunk count [${n}] in SYNC_END`, true);
    if (!this.begin(c, meta)) return;
    c.lastSyncPacket = this.clock.now();
    c.endCount = n;
    this.check(c, meta);
  }

  private check(c: LocalCapability, meta: SyncMeta): void {
    if (c.endCount === undefined) return;
    if (c.chunks > c.endCount)
      return void this.fail(c, `Received [${c.chunks}] chunks, donor sent [${c.endCount}]`, true);
    if (c.chunks < c.endCount) return;
    if (
      c.syncMode === 'replace' &&
      c.expectedDigest !== undefined &&
      c.handlers.digest !== undefined
    ) {
      const mine = `${c.chunks}:${c.handlers.digest()}`;
      if (mine !== c.expectedDigest) {
        this.host.count('sync_digest_mismatch');
        return void this.fail(c, 'Dataset digest mismatch after sync', true);
      }
    }
    this.succeed(c, meta);
  }

  /** `clusterer_set_cap_status`: disable, or enable (then resync if it syncs at startup). */
  setEnabled(c: LocalCapability, enabled: boolean): void {
    if (c.enabled === enabled) return;
    if (!enabled) {
      const wasOk = c.ok;
      c.enabled = false;
      c.wantSync = false;
      c.requestOut = false;
      c.donor = undefined;
      c.held.length = 0;
      c.status = CapStatus.NOT_SYNCED;
      this.abortStreamsOf(c);
      c.lastReport = 'Capability disabled via MI command';
      this.host.emitStatus({
        clusterId: c.clusterId,
        capability: c.name,
        status: c.status,
        report: c.lastReport,
      });
      if (wasOk) this.host.advertise(c.clusterId);
      return;
    }
    c.enabled = true;
    c.status = CapStatus.NOT_SYNCED;
    c.lastReport = 'Capability enabled via MI command';
    this.host.emitStatus({
      clusterId: c.clusterId,
      capability: c.name,
      status: c.status,
      report: c.lastReport,
    });
    // unlike OpenSIPS, never advertise OK before the data is really there
    if (c.startupSync) this.requestSync(c.name);
    else this.setStatus(c, CapStatus.SYNCED, 'Capability enabled, no sync required');
  }
}

function streamKey(capability: string, dst: number): string {
  return `${capability}/${dst}`;
}
