import type { Clock } from '@sipedge/core';
import { CapStatus, type HeldPacket, type LocalCapability, type SyncMeta } from './capability.js';
import type { SyncHost, SyncTimers } from './host.js';
import { decodeStreamStart, decodeSyncDigest } from './wire.js';

/** What a SYNC packet carries for the receiver (routing aside). */
export interface SyncPayload {
  capability: string;
  dataVersion: number;
  chunks: Buffer[];
}

/** What receiving a sync needs: the capabilities, status changes, and failure handling. */
export interface ReceiverHost extends Pick<SyncHost, 'count'> {
  capability(name: string, clusterId: number): LocalCapability | undefined;
  setStatus(c: LocalCapability, status: CapStatus, report: string): void;
  /** The sync failed: report it and ask again (from another donor at once if `immediate`). */
  fail(c: LocalCapability, report: string, immediate?: boolean): void;
  requestSync(name: string): boolean;
  /** Report (rate-limited) a SYNC of a data version this node cannot read. */
  refusedVersion(c: LocalCapability, src: number, version: number): void;
}

/**
 * The receiving side of a sync: takes SYNC, the digest and SYNC_END only from the donor asked
 * (and, from a sipedge donor, only after the start of its latest reply), hands chunks to the
 * module, and declares "synced" only when SYNC_END's count was reached and the digests match;
 * replication packets that arrive meanwhile are held and replayed after.
 */
export class SyncReceiver {
  readonly #host: ReceiverHost;
  readonly #clock: Clock;
  readonly #timers: SyncTimers;
  /** Donors known to send SIPEDGE_SYNC_STREAM_START (sipedge nodes), by `cluster/node`. */
  readonly #marksStreams = new Set<string>();

  constructor(host: ReceiverHost, clock: Clock, timers: SyncTimers) {
    this.#host = host;
    this.#clock = clock;
    this.#timers = timers;
  }

  /** A donor went down: whether it marks its streams is learnt again when it is back. */
  forget(clusterId: number, nodeId: number): void {
    this.#marksStreams.delete(`${clusterId}/${nodeId}`);
  }

  /**
   * A module packet for `c`: keep it while the capability waits for or runs a sync. A
   * merge-mode capability applies it at once: a merge keeps what is newer whatever the order,
   * so a binding replicated before this node's first sync is already held here, not only in a
   * buffer that waits for a donor.
   */
  hold(c: LocalCapability, p: HeldPacket): boolean {
    if (!c.wantSync || c.background || c.syncMode === 'merge') return false;
    if (c.held.length >= this.#timers.bufferMax) {
      c.held.length = 0;
      c.overflowed = true;
      this.#host.count('sync_buffer_overflow');
    }
    c.held.push(p);
    return true;
  }

  /** A capability receiving a sync: fail it after `sync_timeout` without a packet. */
  tick(c: LocalCapability, now: number): void {
    if (now - c.lastSyncPacket >= this.#timers.timeoutMs)
      this.#host.fail(c, `Sync timed out, received [${c.chunks}] chunks`);
  }

  #expecting(c: LocalCapability | undefined, src: number): c is LocalCapability {
    if (c?.wantSync !== true || c.donor !== src || !(c.requestOut || c.inProgress)) return false;
    if (!c.streamOpen && this.#marksStreams.has(`${c.clusterId}/${src}`)) {
      // the tail of an earlier reply from this donor, before the start of the current one
      this.#host.count('drop_stale_sync');
      return false;
    }
    return true;
  }

  /** SIPEDGE_SYNC_STREAM_START from `src`: the reply to our latest request begins. */
  onStreamStart(clusterId: number, src: number, body: Buffer): void {
    let name: string;
    try {
      name = decodeStreamStart(body);
    } catch {
      return void this.#host.count('drop_bad_sync_digest');
    }
    this.#marksStreams.add(`${clusterId}/${src}`);
    const c = this.#host.capability(name, clusterId);
    if (c?.wantSync !== true || c.donor !== src || !(c.requestOut || c.inProgress))
      return void this.#host.count('drop_unexpected_sync');
    // a second start (we asked again meanwhile): what came before belongs to the older reply
    c.streamOpen = true;
    c.requestOut = true;
    c.requestedAt = this.#clock.now();
    c.inProgress = false;
    c.chunks = 0;
    c.endCount = undefined;
    c.expectedDigest = undefined;
  }

  #begin(c: LocalCapability, meta: SyncMeta): boolean {
    if (c.inProgress) return true;
    c.chunks = 0;
    c.inProgress = true;
    try {
      c.handlers.onSyncStart?.(meta);
    } catch {
      this.#host.fail(c, 'Module refused the sync start');
      return false;
    }
    this.#host.setStatus(c, CapStatus.IN_PROGRESS, `Sync started from node [${meta.srcId}]`);
    return true;
  }

  onSync(clusterId: number, src: number, version: number, p: SyncPayload): void {
    if (version !== 3) return void this.#host.count('drop_sync_bad_version');
    const c = this.#host.capability(p.capability, clusterId);
    if (!this.#expecting(c, src)) return void this.#host.count('drop_unexpected_sync');
    if (!c.readsDataVersions.includes(p.dataVersion)) {
      this.#host.count('sync_bad_data_version');
      c.unreadableDonors.add(src);
      this.#host.refusedVersion(c, src, p.dataVersion);
      return void this.#host.fail(
        c,
        `Sync from node [${src}] refused: data version ${p.dataVersion}, this node reads ${c.readsDataVersions.join(',')}`,
        true,
      );
    }
    const meta: SyncMeta = { clusterId, srcId: src, dataVersion: p.dataVersion };
    if (!this.#begin(c, meta)) return;
    c.lastSyncPacket = this.#clock.now();
    for (const chunk of p.chunks) {
      try {
        c.handlers.onSyncChunk?.(chunk, meta);
      } catch {
        this.#host.count('sync_bad_chunk');
        return void this.#host.fail(c, `Broken chunk after [${c.chunks}] chunks`, true);
      }
      c.chunks++;
    }
    this.#check(c, meta);
  }

  /** A SYNC packet that could not be decoded (broken chunk framing) from `src`. */
  onBrokenSync(clusterId: number, src: number, capability: string): void {
    const c = this.#host.capability(capability, clusterId);
    if (!this.#expecting(c, src)) return;
    this.#host.count('sync_bad_chunk');
    this.#host.fail(c, `Broken sync packet after [${c.chunks}] chunks`, true);
  }

  onDigest(clusterId: number, src: number, body: Buffer): void {
    try {
      const { capability, total, digest } = decodeSyncDigest(body);
      const c = this.#host.capability(capability, clusterId);
      if (!this.#expecting(c, src)) return void this.#host.count('drop_unexpected_sync');
      c.expectedDigest = `${total}:${digest}`;
    } catch {
      this.#host.count('drop_bad_sync_digest');
    }
  }

  onSyncEnd(clusterId: number, src: number, version: number, capability: string, n?: number): void {
    if (version !== 3 || n === undefined) return void this.#host.count('drop_sync_bad_version');
    const c = this.#host.capability(capability, clusterId);
    if (!this.#expecting(c, src)) return void this.#host.count('drop_unexpected_sync');
    const meta: SyncMeta = { clusterId, srcId: src, dataVersion: c.dataVersion };
    if (n < 0) return void this.#host.fail(c, `Bad chunk count [${n}] in SYNC_END`, true);
    if (!this.#begin(c, meta)) return;
    c.lastSyncPacket = this.#clock.now();
    c.endCount = n;
    this.#check(c, meta);
  }

  #check(c: LocalCapability, meta: SyncMeta): void {
    if (c.endCount === undefined) return;
    if (c.chunks > c.endCount)
      return void this.#host.fail(
        c,
        `Received [${c.chunks}] chunks, donor sent [${c.endCount}]`,
        true,
      );
    if (c.chunks < c.endCount) return;
    if (
      c.syncMode === 'replace' &&
      c.expectedDigest !== undefined &&
      c.handlers.digest !== undefined
    ) {
      const mine = `${c.chunks}:${c.handlers.digest()}`;
      if (mine !== c.expectedDigest) {
        this.#host.count('sync_digest_mismatch');
        return void this.#host.fail(c, 'Dataset digest mismatch after sync', true);
      }
    }
    this.#succeed(c, meta);
  }

  #succeed(c: LocalCapability, meta: SyncMeta): void {
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
    c.unreadableDonors.clear();
    c.syncsCompleted++;
    this.#host.count('syncs_completed');
    // replay the replication packets that arrived while not synced, in arrival order
    const held = c.held.splice(0);
    this.#host.setStatus(c, CapStatus.SYNCED, `Sync completed, received [${n}] chunks`);
    for (const h of held) h.deliver();
    c.handlers.onSyncDone?.(meta);
    if (c.overflowed) {
      c.overflowed = false;
      this.#host.requestSync(c.name);
    }
  }
}
