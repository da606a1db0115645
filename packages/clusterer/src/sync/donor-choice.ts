import type { Clock, Logger } from '@sipedge/core';
import { CapStatus, type LocalCapability } from './capability.js';
import { DonorlessAgreement, type DonorlessHost, type DonorlessSyncEvent } from './donorless.js';
import type { SyncHost, SyncTimers } from './host.js';

/** What asking a donor needs: the clusterer's view of the nodes, its sends, status changes. */
export interface DonorChoiceHost
  extends Pick<
      SyncHost,
      'myNodeId' | 'count' | 'isSeed' | 'mySipAddr' | 'candidates' | 'sendRouted'
    >,
    DonorlessHost {
  setStatus(c: LocalCapability, status: CapStatus, report: string): void;
}

/**
 * The asking side of a sync: choose a donor (reachable, advertising the capability synced,
 * matching `sync_cond`; a direct link first, then priority, then node id; donors that failed
 * recently last), send SYNC_REQ, and after a failure ask again — at once from another donor,
 * else after a backoff. With no donor at all: merge-mode capabilities follow the majority's
 * agreement (donorless.ts); replace-mode ones fall back on a seed that never found a donor.
 */
export class DonorChoice {
  readonly #host: DonorChoiceHost;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timers: SyncTimers;
  readonly #agreement: DonorlessAgreement;
  #readyAt = 0;

  constructor(host: DonorChoiceHost, log: Logger, clock: Clock, timers: SyncTimers) {
    this.#host = host;
    this.#log = log;
    this.#clock = clock;
    this.#timers = timers;
    this.#agreement = new DonorlessAgreement(host, log, timers);
  }

  /** The node became ready (start()): seed fallback is counted from here. */
  ready(): void {
    this.#readyAt = this.#clock.now();
  }

  /** Ask for a full sync (`request_sync`): a no-op while one is pending or in progress. */
  request(c: LocalCapability, from?: number): void {
    if (from !== undefined) c.preferDonor = from;
    if (c.requestOut || c.inProgress) return;
    c.background = c.ok && c.syncMode === 'merge';
    c.wantSync = true;
    c.pendingSince = this.#clock.now();
    c.chunks = 0;
    c.endCount = undefined;
    c.expectedDigest = undefined;
    this.tryDonor(c);
  }

  #pick(c: LocalCapability): number | undefined {
    const mine = this.#host.mySipAddr(c.clusterId);
    const now = this.#clock.now();
    const list = this.#host.candidates(c.clusterId, c.name).filter((n) => {
      if (!n.ok || c.unreadableDonors.has(n.id)) return false;
      if (c.syncCond === 'eq_sip_addr') return n.sipAddr === mine;
      if (c.syncCond === 'neq_sip_addr') return n.sipAddr !== mine;
      return true;
    });
    const failed = (id: number): number => (this.#recentlyFailed(c, id, now) ? 1 : 0);
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

  /** Send SYNC_REQ to the best donor if a sync is wanted, none is out and no backoff runs. */
  tryDonor(c: LocalCapability): void {
    if (!c.wantSync || !c.enabled || c.requestOut || c.inProgress) return;
    if (this.#clock.now() < c.nextRetryAt) return;
    const donor = this.#pick(c);
    if (donor !== undefined) {
      const r = this.#host.sendRouted(c.clusterId, donor, {
        kind: 'sync_req',
        cluster: c.clusterId,
        src: this.#host.myNodeId,
        dst: donor,
        capability: c.name,
      });
      if (r === 1) {
        this.#host.count('sync_requests_sent');
        c.hadDonor = true;
        c.streamOpen = false;
        c.requestOut = true;
        c.donor = donor;
        c.preferDonor = undefined;
        c.requestedAt = this.#clock.now();
        this.#agreement.reset(c);
        this.#host.setStatus(c, CapStatus.PENDING, `Sync requested from node [${donor}]`);
        return;
      }
      c.failedDonors.set(donor, this.#clock.now());
    }
    this.#host.setStatus(c, CapStatus.PENDING, 'Sync request postponed! (no donor available)');
  }

  /** The sync failed: never "synced"; ask again, from another donor at once if `immediate`. */
  fail(c: LocalCapability, report: string, immediate = false): void {
    const now = this.#clock.now();
    c.streamOpen = false;
    if (c.donor !== undefined) c.failedDonors.set(c.donor, now);
    c.requestOut = false;
    c.inProgress = false;
    c.donor = undefined;
    c.endCount = undefined;
    c.expectedDigest = undefined;
    c.attempt++;
    c.syncsFailed++;
    this.#host.count('sync_failures');
    const { retryMinMs, retryMaxMs } = this.#timers;
    const delay = Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(c.attempt - 1, 20));
    c.nextRetryAt = now + delay;
    // at once only toward another donor: the same one (or nobody) waits out the backoff, so a
    // donor that keeps sending bad data cannot make us spin
    if (immediate) {
      const next = this.#pick(c);
      if (next !== undefined && !this.#recentlyFailed(c, next, now)) c.nextRetryAt = now;
    }
    this.#host.setStatus(c, CapStatus.NOT_SYNCED, report);
    this.tryDonor(c);
  }

  #recentlyFailed(c: LocalCapability, id: number, now: number): boolean {
    const t = c.failedDonors.get(id);
    return t !== undefined && now - t < this.#timers.retryMaxMs * 3;
  }

  /** A node became unreachable: if it was our donor, this sync has failed. */
  nodeDown(c: LocalCapability, nodeId: number): void {
    if (c.donor === nodeId && (c.requestOut || c.inProgress))
      this.fail(c, `Donor node [${nodeId}] became unreachable`, true);
  }

  /** Timers of a capability that wants a sync and is not receiving one. */
  tick(c: LocalCapability, now: number): void {
    if (c.requestOut) {
      if (now - c.requestedAt >= this.#timers.timeoutMs)
        this.fail(c, `Sync request to node [${c.donor}] not answered`);
      return;
    }
    this.tryDonor(c);
    if (c.requestOut || c.background) return;
    if (this.#pick(c) !== undefined) {
      this.#agreement.reset(c); // a donor exists: this is a backoff between attempts
      return;
    }
    // merge mode: the waiting nodes of a majority agree on one to declare (donorless.ts)
    if (c.syncMode === 'merge') {
      const e = this.#agreement.waiting(c, now, this.#readyAt);
      if (e !== undefined) this.#declare(c, e);
      return;
    }
    // replace mode keeps OpenSIPS's rule: only a seed that never found a donor falls back;
    // one whose sync broke part way holds partial data and waits for a donor however long
    if (
      !c.hadDonor &&
      this.#host.isSeed(c.clusterId) &&
      now - Math.max(this.#readyAt, c.pendingSince) >= this.#timers.seedFallbackMs
    ) {
      this.#declare(c, {
        clusterId: c.clusterId,
        capability: c.name,
        at: now,
        since: Math.max(this.#readyAt, c.pendingSince),
        stamp: 0,
        peers: [],
        reason: 'seed',
      });
    }
  }

  /** Declare the data synced with no donor, replay what was held, and say so. */
  #declare(c: LocalCapability, e: DonorlessSyncEvent): void {
    c.wantSync = false;
    this.#agreement.reset(c);
    const held = c.held.splice(0);
    const report =
      e.reason === 'seed'
        ? 'ERROR: Sync request aborted! (no donor found in due time) => fallback to synced state'
        : `No donor found, synced by agreement of nodes [${[this.#host.myNodeId, ...e.peers].join(',')}]`;
    this.#host.setStatus(c, CapStatus.SYNCED, report);
    for (const h of held) h.deliver();
    this.#host.count('donorless_syncs');
    this.#log.warn(
      {
        capability: c.name,
        cluster: c.clusterId,
        reason: e.reason,
        peers: e.peers,
        stamp: e.stamp,
        no_donor_since_ms: e.at - e.since,
      },
      'data declared synced without a donor',
    );
    this.#host.emitDonorless(e);
  }

  /** A standing from a node that waits for a donor too. */
  onStanding(clusterId: number, src: number, body: Buffer): void {
    this.#agreement.onStanding(clusterId, src, body, this.#clock.now());
  }

  /** A node went down (its standing stops counting). */
  nodeGone(clusterId: number, nodeId: number): void {
    this.#agreement.nodeDown(clusterId, nodeId);
  }
}
