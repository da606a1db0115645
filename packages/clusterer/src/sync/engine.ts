import { type Clock, type Logger, LogLimiter } from '@sipedge/core';
import type { RoutedPacket } from '../bin/packet.js';
import { AntiEntropy, type AntiEntropyHost } from './anti-entropy.js';
import { CapStatus, type HeldPacket, type LocalCapability } from './capability.js';
import { DonorChoice, type DonorChoiceHost } from './donor-choice.js';
import { type SyncHost, type SyncOptions, syncTimers } from './host.js';
import { type ReceiverHost, type SyncPayload, SyncReceiver } from './receiver.js';
import { type ReplyStreamHost, SyncReplies } from './reply-stream.js';

/**
 * Capability sync (docs/protocols/bin-clusterer.md §6) with sipedge's additions: donors ranked
 * (direct link, priority, node id) and failed donors avoided, automatic retry with bounded backoff
 * after a timeout, a broken stream or a vanished donor, and a dataset digest checked before
 * declaring "synced".
 *
 * The engine keeps the capabilities and their status, and wires the parts: donor choice and
 * retry (asking side), the receiver, the reply streams (donor side) and merge repair.
 */
export class SyncEngine {
  readonly caps = new Map<string, LocalCapability>();
  readonly packetSize: number;
  readonly #host: SyncHost;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #donors: DonorChoice;
  readonly #receiver: SyncReceiver;
  readonly #replies: SyncReplies;
  readonly #antiEntropy: AntiEntropy;
  /** One line per donor and capability a minute about data it cannot read. */
  readonly #versionLog: LogLimiter;

  constructor(host: SyncHost, log: Logger, clock: Clock, o: SyncOptions = {}) {
    this.#host = host;
    this.#log = log;
    this.#clock = clock;
    this.#versionLog = new LogLimiter({ clock });
    const timers = syncTimers(o);
    this.packetSize = timers.packetSize;
    const { sendBulk, bulkRoom } = host;
    const parts: DonorChoiceHost & ReceiverHost & ReplyStreamHost & AntiEntropyHost = {
      myNodeId: host.myNodeId,
      count: (name, n) => host.count(name, n),
      isSeed: (id) => host.isSeed(id),
      holdsMajority: (id) => host.holdsMajority(id),
      emitDonorless: (e) => host.emitDonorless(e),
      mySipAddr: (id) => host.mySipAddr(id),
      candidates: (id, cap) => host.candidates(id, cap),
      reachable: (id, node) => host.reachable(id, node),
      speaksSipedge: (id, node) => host.speaksSipedge(id, node),
      sendRouted: (id, dst, p) => host.sendRouted(id, dst, p),
      ...(sendBulk !== undefined
        ? {
            sendBulk: (id: number, dst: number, p: RoutedPacket) => sendBulk.call(host, id, dst, p),
          }
        : {}),
      ...(bulkRoom !== undefined
        ? { bulkRoom: (id: number, dst: number) => bulkRoom.call(host, id, dst) }
        : {}),
      advertise: (id) => host.advertise(id),
      capability: (name, id) => this.get(name, id),
      setStatus: (c, status, report) => this.#setStatus(c, status, report),
      fail: (c, report, immediate) => this.#donors.fail(c, report, immediate),
      refusedVersion: (c, src, version) => {
        const held = this.#versionLog.admit(`${c.clusterId}/${c.name}/${src}`);
        if (held === undefined) return;
        this.#log.warn(
          {
            capability: c.name,
            cluster: c.clusterId,
            node: src,
            type: 'SYNC',
            version,
            reads: c.readsDataVersions,
            suppressed: held,
          },
          'sync data of a version this node cannot read refused; that donor is not asked again until a sync completes',
        );
      },
      requestSync: (name: string, from?: number) => this.requestSync(name, from),
    };
    this.#donors = new DonorChoice(parts, log, clock, timers);
    this.#receiver = new SyncReceiver(parts, clock, timers);
    this.#replies = new SyncReplies(parts, log, clock, timers);
    this.#antiEntropy = new AntiEntropy(parts, timers.antiEntropyMs);
  }

  /** The node became ready (start()): seed fallback is counted from here. */
  ready(): void {
    this.#donors.ready();
    for (const c of this.caps.values()) if (c.wantSync) this.#donors.tryDonor(c);
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

  /** Tells the host the capability's status and last report as they stand. */
  #emitStatus(c: LocalCapability): void {
    this.#host.emitStatus({
      clusterId: c.clusterId,
      capability: c.name,
      status: c.status,
      report: c.lastReport,
    });
  }

  #setStatus(c: LocalCapability, status: CapStatus, report: string): void {
    if (c.background && status !== CapStatus.SYNCED) {
      if (report !== c.lastReport) {
        c.lastReport = report;
        this.#emitStatus(c);
      }
      return;
    }
    const changed = status !== c.status || report !== c.lastReport;
    const wasOk = c.ok;
    c.status = status;
    if (!changed) return;
    c.lastReport = report;
    this.#log.info({ capability: c.name, cluster: c.clusterId, status }, report);
    this.#emitStatus(c);
    if (wasOk && !c.ok) this.#replies.abortAll(c);
    if (wasOk !== c.ok) this.#host.advertise(c.clusterId);
  }

  /** Ask for a full sync (`request_sync`): a no-op while one is pending or in progress. */
  requestSync(name: string, from?: number): boolean {
    const c = this.caps.get(name);
    if (c === undefined || !c.enabled) return false;
    this.#donors.request(c, from);
    return true;
  }

  /** A module packet for `name`: keep it while the capability waits for or runs a sync. */
  hold(name: string, clusterId: number, p: HeldPacket): boolean {
    const c = this.get(name, clusterId);
    return c !== undefined && this.#receiver.hold(c, p);
  }

  tick(): void {
    const now = this.#clock.now();
    this.#replies.tick(now);
    for (const c of this.caps.values()) {
      if (!c.wantSync || !c.enabled) this.#antiEntropy.tick(c, now);
      else if (c.inProgress) this.#receiver.tick(c, now);
      else this.#donors.tick(c, now);
    }
  }

  /** Reachability of a node changed. */
  nodeState(clusterId: number, nodeId: number, up: boolean): void {
    for (const c of this.caps.values()) {
      if (c.clusterId !== clusterId) continue;
      if (!up) {
        this.#antiEntropy.nodeDown(c, nodeId);
        this.#donors.nodeGone(clusterId, nodeId);
        this.#receiver.forget(clusterId, nodeId);
        // a stream to it pauses (its TCP connection may well be intact: a receiver busy with a
        // long GC misses pongs); `connectionLost` or the stall timeout ends it
        this.#donors.nodeDown(c, nodeId);
        continue;
      }
      this.#replies.nodeUp(c, nodeId);
      this.#antiEntropy.nodeUp(c, nodeId);
      this.#donors.tryDonor(c);
    }
    if (up) this.#replies.resume();
  }

  /** The connection to nodeId broke: packets queued for it are gone, so its streams end. */
  connectionLost(clusterId: number, nodeId: number): void {
    this.#replies.connectionLost(clusterId, nodeId);
  }

  /** New capability states learnt from a CAP_UPDATE. */
  remoteCaps(clusterId: number): void {
    for (const c of this.caps.values()) {
      if (c.clusterId !== clusterId) continue;
      this.#antiEntropy.resyncFromUp(c);
      this.#donors.tryDonor(c);
    }
  }

  // -------------------------------------------------------------- packets from the clusterer

  onSyncRequest(clusterId: number, src: number, name: string): void {
    this.#replies.onSyncRequest(clusterId, src, name);
  }

  onStreamStart(clusterId: number, src: number, body: Buffer): void {
    this.#receiver.onStreamStart(clusterId, src, body);
  }

  onSync(clusterId: number, src: number, version: number, p: SyncPayload): void {
    this.#receiver.onSync(clusterId, src, version, p);
  }

  /** A SYNC packet that could not be decoded (broken chunk framing) from `src`. */
  onBrokenSync(clusterId: number, src: number, capability: string): void {
    this.#receiver.onBrokenSync(clusterId, src, capability);
  }

  onDigest(clusterId: number, src: number, body: Buffer): void {
    this.#receiver.onDigest(clusterId, src, body);
  }

  onSyncEnd(clusterId: number, src: number, version: number, capability: string, n?: number): void {
    this.#receiver.onSyncEnd(clusterId, src, version, capability, n);
  }

  onCompare(clusterId: number, src: number, body: Buffer): void {
    this.#antiEntropy.onCompare(clusterId, src, body);
  }

  /** A node that waits for a donor too told its standing. */
  onStanding(clusterId: number, src: number, body: Buffer): void {
    this.#donors.onStanding(clusterId, src, body);
  }

  /** Number of sync replies being streamed from this node. */
  get activeStreams(): number {
    return this.#replies.active;
  }

  /** Move the reply streams on (the host calls it when a link drains). */
  pump(): void {
    this.#replies.pump();
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
      this.#replies.abortAll(c);
      c.lastReport = 'Capability disabled via MI command';
      this.#emitStatus(c);
      if (wasOk) this.#host.advertise(c.clusterId);
      return;
    }
    c.enabled = true;
    c.status = CapStatus.NOT_SYNCED;
    c.lastReport = 'Capability enabled via MI command';
    this.#emitStatus(c);
    // unlike OpenSIPS, never advertise OK before the data is really there
    if (c.startupSync) this.requestSync(c.name);
    else this.#setStatus(c, CapStatus.SYNCED, 'Capability enabled, no sync required');
  }
}
