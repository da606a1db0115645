import type { Logger } from '@sipedge/core';
import type { LocalCapability } from './capability.js';
import type { SyncHost, SyncTimers } from './host.js';
import {
  decodeStanding,
  encodeStanding,
  SIPEDGE_SYNC_STANDING,
  type Standing,
  sipedgeSyncPacket,
} from './wire.js';

/** A node declared its data synced with no donor (`E_CLUSTERER_DONORLESS_SYNC`). */
export interface DonorlessSyncEvent {
  clusterId: number;
  capability: string;
  /** When it was declared (clock ms). */
  at: number;
  /** Since when no reachable node could be a donor (clock ms). */
  since: number;
  /** This node's data stamp, the highest of the waiting nodes (or tied and first by rule). */
  stamp: number;
  /** The other waiting nodes that agree, by node id (empty: a lone seed falling back). */
  peers: number[];
  reason: 'agreement' | 'seed';
}

/** What the agreement needs: the peers, majority, sends, and a way to report the outcome. */
export interface DonorlessHost
  extends Pick<SyncHost, 'myNodeId' | 'count' | 'isSeed' | 'candidates' | 'sendRouted'> {
  holdsMajority(clusterId: number): boolean;
  emitDonorless(e: DonorlessSyncEvent): void;
}

/** A standing heard from another node, kept this long (three sends). */
const STANDING_TTL_MS = 3000;
/** A waiting node tells the others once a second. */
const STANDING_EVERY_MS = 1000;

interface Heard {
  stamp: number;
  seed: boolean;
  at: number;
}

/**
 * No donor, no deadlock (merge-mode capabilities). When no reachable node can be a donor
 * (none advertises the capability synced) for `seed_fallback_interval`, the waiting nodes
 * that reach a majority of the cluster agree on one of them — the highest data stamp, then a
 * seed node, then the lowest node id — and only that node declares its data synced. The others
 * then find it as a donor and merge from it; what they hold alone reaches it through the
 * compare that follows (anti-entropy). A minority side never declares.
 *
 * Waiting nodes tell each other their standing (`sipedge-sync` type 4) once a second. Nodes
 * that never send one (OpenSIPS) take no part. A seed that hears no other waiting node keeps
 * OpenSIPS's rule and falls back alone.
 */
export class DonorlessAgreement {
  readonly #host: DonorlessHost;
  readonly #log: Logger;
  readonly #fallbackMs: number;
  /** Standings heard, by `cluster/capability`, then node id. */
  readonly #heard = new Map<string, Map<number, Heard>>();
  /**
   * When each waiting peer was first seen waiting, by `cluster/capability`, then node id: one
   * silent for a whole standing lifetime takes no part (an OpenSIPS node); until then, a peer
   * not heard from yet may still outrank this node.
   */
  readonly #seen = new Map<string, Map<number, number>>();

  constructor(host: DonorlessHost, log: Logger, timers: Pick<SyncTimers, 'seedFallbackMs'>) {
    this.#host = host;
    this.#log = log;
    this.#fallbackMs = timers.seedFallbackMs;
  }

  /** A standing from `src`: it waits for a donor too. */
  onStanding(clusterId: number, src: number, body: Buffer, now: number): void {
    let s: Standing;
    try {
      s = decodeStanding(body);
    } catch {
      return void this.#host.count('drop_bad_standing');
    }
    const key = `${clusterId}/${s.capability}`;
    let m = this.#heard.get(key);
    if (m === undefined) {
      // bounded: one map per capability this node has (unknown names are not kept)
      if (!this.#host.candidates(clusterId, s.capability).some((n) => n.id === src))
        return void this.#host.count('drop_unexpected_standing');
      m = new Map();
      this.#heard.set(key, m);
    }
    m.set(src, { stamp: s.stamp, seed: s.seed, at: now });
    this.#host.count('standings_received');
  }

  /** The capability found a donor or stopped waiting: forget its wait. */
  reset(c: LocalCapability): void {
    c.noDonorSince = undefined;
    c.lastStanding = Number.NEGATIVE_INFINITY;
  }

  /**
   * A capability that wants a sync and finds no donor, at `now`: tell the others, and decide.
   * Returns the event to report when this node is the one to declare its data synced.
   */
  waiting(c: LocalCapability, now: number, readyAt: number): DonorlessSyncEvent | undefined {
    if (c.noDonorSince === undefined) {
      c.noDonorSince = now;
      c.standingStamp = this.#stamp(c);
    }
    const key = `${c.clusterId}/${c.name}`;
    const peers = this.#host.candidates(c.clusterId, c.name);
    // only sipedge nodes take part (an OpenSIPS node never hears of it)
    const waiting = peers.filter((n) => n.known && !n.ok && n.sipedge).map((n) => n.id);
    const seen = this.#seen.get(key) ?? new Map<number, number>();
    this.#seen.set(key, seen);
    const fresh = waiting.filter((id) => !seen.has(id));
    for (const id of seen.keys()) if (!waiting.includes(id)) seen.delete(id);
    for (const id of fresh) seen.set(id, now);
    if (now - c.lastStanding >= STANDING_EVERY_MS) {
      c.lastStanding = now;
      this.#tell(c, waiting);
    } else this.#tell(c, fresh); // a node that just showed up hears at once
    const since = Math.max(readyAt, c.noDonorSince);
    if (now - since < this.#fallbackMs) return undefined;
    // a node whose state is not known yet may well be a donor: wait for its CAP_UPDATE
    if (peers.some((n) => !n.known)) return undefined;
    const seed = this.#host.isSeed(c.clusterId);
    const heard = this.#heard.get(key);
    const others: { id: number; stamp: number; seed: boolean }[] = [];
    for (const id of waiting) {
      const h = heard?.get(id);
      if (h !== undefined && now - h.at < STANDING_TTL_MS)
        others.push({ id, stamp: h.stamp, seed: h.seed });
      else if (now - (seen.get(id) ?? now) < STANDING_TTL_MS) return undefined; // not heard yet
    }
    const event = (reason: DonorlessSyncEvent['reason']): DonorlessSyncEvent => ({
      clusterId: c.clusterId,
      capability: c.name,
      at: now,
      since,
      stamp: c.standingStamp,
      peers: others.map((o) => o.id).sort((a, b) => a - b),
      reason,
    });
    if (others.length === 0 && seed) return event('seed');
    if (!this.#host.holdsMajority(c.clusterId)) return undefined;
    const me = { id: this.#host.myNodeId, stamp: c.standingStamp, seed };
    for (const o of others) if (DonorlessAgreement.before(o, me)) return undefined;
    return event('agreement');
  }

  /** Does waiting node `a` come before `b`: higher stamp, then a seed, then lower id? */
  static before(
    a: { id: number; stamp: number; seed: boolean },
    b: { id: number; stamp: number; seed: boolean },
  ): boolean {
    if (a.stamp !== b.stamp) return a.stamp > b.stamp;
    if (a.seed !== b.seed) return a.seed;
    return a.id < b.id;
  }

  /** A node went down: its standing no longer counts. */
  nodeDown(clusterId: number, nodeId: number): void {
    for (const [key, m] of this.#heard) if (key.startsWith(`${clusterId}/`)) m.delete(nodeId);
    for (const [key, m] of this.#seen) if (key.startsWith(`${clusterId}/`)) m.delete(nodeId);
  }

  #stamp(c: LocalCapability): number {
    try {
      const s = c.handlers.stamp?.() ?? 0;
      return Number.isFinite(s) ? s : 0;
    } catch (err) {
      this.#log.warn({ err, capability: c.name }, 'capability stamp failed; 0 used');
      return 0;
    }
  }

  #tell(c: LocalCapability, to: number[]): void {
    if (to.length === 0) return;
    const body = encodeStanding({
      capability: c.name,
      stamp: c.standingStamp,
      seed: this.#host.isSeed(c.clusterId),
    });
    for (const dst of to) {
      this.#host.count('standings_sent');
      this.#host.sendRouted(
        c.clusterId,
        dst,
        sipedgeSyncPacket(c.clusterId, this.#host.myNodeId, dst, SIPEDGE_SYNC_STANDING, body),
      );
    }
  }
}
