import type { Logger } from '@sipedge/core';
import type { RoutedPacket } from '../bin/packet.js';
import { ClustererConfigError } from '../errors.js';

export type ShtagState = 'active' | 'backup';

export interface ShtagChangeEvent {
  name: string;
  clusterId: number;
  state: ShtagState;
  reason: string;
}

export interface ShtagView {
  name: string;
  clusterId: number;
  state: ShtagState;
}

/** Tags kept at most (received SHTAG_ACTIVE for unknown names create tags, as OpenSIPS). */
export const MAX_SHTAGS = 1024;
const TAG_NAME = /^[A-Za-z0-9_.:@+-]{1,64}$/;

/** Parse `name/cluster_id` (the MI and `$cluster.sh_tag` form). */
export function parseTagKey(key: string): { name: string; clusterId: number } {
  const i = key.lastIndexOf('/');
  const name = i > 0 ? key.slice(0, i) : '';
  const cid = i > 0 ? key.slice(i + 1) : '';
  if (!TAG_NAME.test(name)) throw new ClustererConfigError(`bad sharing tag "${key}"`);
  if (!/^\d{1,9}$/.test(cid) || Number(cid) <= 0)
    throw new ClustererConfigError(`bad cluster id in sharing tag "${key}"`);
  return { name, clusterId: Number(cid) };
}

/** Parse the `sharing_tag` modparam `name/cluster_id=active|backup`. */
export function parseSharingTag(s: string): {
  name: string;
  clusterId: number;
  state: ShtagState;
} {
  const eq = s.lastIndexOf('=');
  if (eq < 0) throw new ClustererConfigError(`sharing_tag "${s}" needs =active or =backup`);
  const state = s
    .slice(eq + 1)
    .trim()
    .toLowerCase();
  if (state !== 'active' && state !== 'backup')
    throw new ClustererConfigError(`bad state in sharing_tag "${s}"`);
  return { ...parseTagKey(s.slice(0, eq).trim()), state };
}

/** Sipedge-only capability carrying failover claims (OpenSIPS drops it unread). */
export const SHTAG_CLAIM_CAP = 'sipedge-shtag';
const CLAIM = 1;

export interface FailoverOptions {
  /** Take over a tag whose owner is unreachable (default false in the library). */
  enabled?: boolean;
  /** Owner unreachable this long (ms) before the first-ranked backup takes over (default 500). */
  holdDownMs?: number;
  /** Active owners re-announce every this many ms (default 1000). */
  announceMs?: number;
  /** Per tag key (`name/cluster`): capabilities that must be synced to take over. */
  requires?: Record<string, string[]>;
  /** Tag keys that fail over (default: every configured `sharing_tag`). */
  tags?: string[];
}

interface Tag {
  name: string;
  clusterId: number;
  active: boolean;
  /** This tag fails over automatically (configured, with failover enabled). */
  failover: boolean;
  /**
   * Failover: the configuration says `active` here. The node does not start active (it may be
   * restarting into a cluster that has an owner); it takes the tag after the hold-down when no
   * owner shows up, even before its data is synced if no reachable node has that data synced
   * either (a cold start, where nobody holds more than it does).
   */
  preferred: boolean;
  /** Failover: epoch of my ownership (active) or the highest claim heard (backup). */
  epoch: number;
  owner: number | undefined;
  ownerEpoch: number;
  ownerLostAt: number | undefined;
  ineligibleSince: number | undefined;
  lastAnnounce: number;
  lastReply: Map<number, number>;
  /** Announce to nodes as they come UP (configured active, or a send failed). */
  sendActive: boolean;
  told: Set<number>;
  created: number;
}

export interface ShtagHost {
  readonly myNodeId: number;
  now(): number;
  /** Is the node reachable now? */
  reachable(clusterId: number, nodeId: number): boolean;
  /** Reachable nodes that run sipedge failover, with their priority. */
  failoverPeers(clusterId: number): { id: number; priority: number }[];
  myPriority(clusterId: number): number;
  /** Majority rule (seed breaks an even split) and the listed capabilities synced. */
  eligible(clusterId: number, requires: string[]): boolean;
  /** Does a reachable node advertise every listed capability synced? */
  anyPeerSynced(clusterId: number, capabilities: string[]): boolean;
  count(name: string, n?: number): void;
  hasCluster(clusterId: number): boolean;
  /** Enabled remote nodes of the cluster. */
  nodeIds(clusterId: number): number[];
  sendRouted(clusterId: number, dst: number, p: RoutedPacket): number;
  emitChange(e: ShtagChangeEvent): void;
}

/**
 * Sharing tags (docs/protocols/bin-clusterer.md §7): one ACTIVE owner per (name, cluster),
 * announced by SHTAG_ACTIVE.
 */
export class SharingTags {
  readonly #tags = new Map<string, Tag>();
  #created = 0;
  /** Clusters where another node has been seen running sipedge failover (it may take a tag). */
  readonly #failoverSeen = new Set<number>();
  /**
   * Per cluster, nodes that came up before their capabilities were known: they are owed the
   * claims of the tags held here once they show they run sipedge failover (an OpenSIPS node
   * never does, and never receives a `sipedge-shtag` packet).
   */
  readonly #claimOwed = new Map<number, Set<number>>();

  readonly #failover: boolean;
  readonly #holdDown: number;
  readonly #announceMs: number;
  readonly #requires: Record<string, string[]>;
  readonly #startedAt: number;
  readonly #only: Set<string> | undefined;

  readonly #host: ShtagHost;
  readonly #log: Logger;

  constructor(host: ShtagHost, log: Logger, fo: FailoverOptions = {}) {
    this.#host = host;
    this.#log = log;
    this.#failover = fo.enabled ?? false;
    this.#holdDown = fo.holdDownMs ?? 500;
    this.#announceMs = fo.announceMs ?? 1000;
    this.#requires = fo.requires ?? {};
    this.#startedAt = host.now();
    this.#only = fo.tags === undefined ? undefined : new Set(fo.tags);
  }

  get failoverEnabled(): boolean {
    return this.#failover;
  }

  #key(name: string, clusterId: number): string {
    return `${name}/${clusterId}`;
  }

  #ensure(name: string, clusterId: number): Tag | undefined {
    const k = this.#key(name, clusterId);
    let t = this.#tags.get(k);
    if (t === undefined) {
      if (this.#tags.size >= MAX_SHTAGS) {
        this.#host.count('drop_shtag_limit');
        return undefined;
      }
      t = {
        name,
        clusterId,
        active: false,
        sendActive: false,
        told: new Set(),
        created: this.#created++,
        failover: false,
        preferred: false,
        epoch: 0,
        owner: undefined,
        ownerEpoch: -1,
        ownerLostAt: undefined,
        ineligibleSince: undefined,
        lastAnnounce: Number.NEGATIVE_INFINITY,
        lastReply: new Map(),
      };
      this.#tags.set(k, t);
    }
    return t;
  }

  /** Configure tags from `sharing_tag` values; tags of clusters I am not in are skipped. */
  configure(values: string[]): void {
    for (const v of values) {
      const s = parseSharingTag(v);
      if (!this.#host.hasCluster(s.clusterId)) {
        this.#log.warn({ tag: v }, 'sharing tag for an unknown cluster ignored');
        continue;
      }
      const t = this.#ensure(s.name, s.clusterId);
      if (t === undefined) continue;
      const key = this.#key(s.name, s.clusterId);
      t.failover = this.#failover && (this.#only === undefined || this.#only.has(key));
      // with failover, `active` is a claim to make once the cluster has been heard (tick)
      t.preferred = t.failover && s.state === 'active';
      t.active = !t.failover && s.state === 'active';
      t.sendActive = t.active;
    }
  }

  /** Read a tag's state; an unknown tag is created as backup (as OpenSIPS). */
  get(name: string, clusterId: number): ShtagState {
    if (!TAG_NAME.test(name) || !this.#host.hasCluster(clusterId))
      throw new ClustererConfigError(`bad sharing tag "${name}/${clusterId}"`);
    return this.#ensure(name, clusterId)?.active === true ? 'active' : 'backup';
  }

  list(): ShtagView[] {
    return [...this.#tags.values()]
      .sort((a, b) => b.created - a.created)
      .map((t) => ({
        name: t.name,
        clusterId: t.clusterId,
        state: t.active ? 'active' : 'backup',
      }));
  }

  #change(t: Tag, active: boolean, reason: string): void {
    if (t.active === active) return;
    t.active = active;
    const state: ShtagState = active ? 'active' : 'backup';
    this.#log.info({ tag: t.name, cluster: t.clusterId, state }, reason);
    this.#host.emitChange({ name: t.name, clusterId: t.clusterId, state, reason });
  }

  /** Make this node the active owner and tell every node (`shtag_activate`). */
  activate(name: string, clusterId: number, reason: string): void {
    if (!TAG_NAME.test(name)) throw new ClustererConfigError(`bad sharing tag name "${name}"`);
    if (!this.#host.hasCluster(clusterId)) throw new ClustererConfigError('Cluster id not found');
    const t = this.#ensure(name, clusterId);
    if (t === undefined) throw new ClustererConfigError('too many sharing tags');
    t.told.clear();
    t.sendActive = false;
    if (t.failover && !t.active) t.epoch = Math.max(t.epoch, t.ownerEpoch) + 1;
    t.owner = undefined;
    t.ownerLostAt = undefined;
    t.lastAnnounce = this.#host.now();
    const peers = new Set(t.failover ? this.#host.failoverPeers(clusterId).map((p) => p.id) : []);
    for (const id of this.#host.nodeIds(clusterId)) {
      if (peers.has(id)) this.#claim(t, id);
      else this.#announce(t, id);
    }
    this.#change(t, true, reason);
  }

  #claim(t: Tag, dst: number): void {
    const name = Buffer.from(t.name);
    const body = Buffer.alloc(2 + name.length + 12);
    let o = body.writeUInt16LE(name.length, 0);
    o += name.copy(body, o);
    o = body.writeInt32LE(t.epoch, o);
    o = body.writeInt32LE(this.#host.myPriority(t.clusterId), o);
    body.writeInt32LE(1, o);
    this.#host.count('shtag_claims_sent');
    this.#host.sendRouted(t.clusterId, dst, {
      kind: 'module',
      cluster: t.clusterId,
      src: this.#host.myNodeId,
      dst,
      capability: SHTAG_CLAIM_CAP,
      version: 1,
      type: CLAIM,
      body,
    });
  }

  /** Does claim (e1, p1, id1) beat (e2, p2, id2)? Higher epoch, then lower priority, then lower id. */
  static beats(e1: number, p1: number, id1: number, e2: number, p2: number, id2: number): boolean {
    if (e1 !== e2) return e1 > e2;
    if (p1 !== p2) return p1 < p2;
    return id1 < id2;
  }

  /** A failover claim from another sipedge node. */
  onClaim(clusterId: number, src: number, type: number, body: Buffer): void {
    if (!this.#failover || type !== CLAIM) return void this.#host.count('drop_shtag_claim');
    let name: string;
    let epoch: number;
    let prio: number;
    try {
      const nl = body.readUInt16LE(0);
      if (2 + nl + 12 > body.length) throw new RangeError('short');
      name = body.toString('utf8', 2, 2 + nl);
      epoch = body.readInt32LE(2 + nl);
      prio = body.readInt32LE(2 + nl + 4);
    } catch {
      return void this.#host.count('drop_shtag_claim');
    }
    if (!TAG_NAME.test(name) || epoch < 0) return void this.#host.count('drop_bad_shtag_name');
    const t = this.#ensure(name, clusterId);
    if (t === undefined) return;
    this.#host.count('shtag_claims_recv');
    if (!t.failover) {
      // a tag without failover here: a claim means what SHTAG_ACTIVE means
      t.owner = src;
      t.sendActive = false;
      t.told.clear();
      this.#change(t, false, `cluster broadcast from ${src}`);
      return;
    }
    if (t.active) {
      const mine = this.#host.myPriority(clusterId);
      if (SharingTags.beats(epoch, prio, src, t.epoch, mine, this.#host.myNodeId)) {
        t.owner = src;
        t.ownerEpoch = epoch;
        t.ownerLostAt = undefined;
        t.sendActive = false;
        this.#change(t, false, `failover: node ${src} holds the tag with epoch ${epoch}`);
        return;
      }
      // the other claimant loses: tell it now (at most every 100 ms per node)
      const now = this.#host.now();
      if (now - (t.lastReply.get(src) ?? Number.NEGATIVE_INFINITY) >= 100) {
        t.lastReply.set(src, now);
        this.#claim(t, src);
      }
      return;
    }
    const ownerPrio = this.#host.failoverPeers(clusterId).find((p) => p.id === t.owner)?.priority;
    if (
      t.owner === undefined ||
      t.owner === src ||
      !this.#host.reachable(clusterId, t.owner) ||
      SharingTags.beats(epoch, prio, src, t.ownerEpoch, ownerPrio ?? 0, t.owner)
    ) {
      t.owner = src;
      t.ownerEpoch = epoch;
      t.ownerLostAt = undefined;
    }
  }

  /** Whether SHTAG_ACTIVE from `src` should be ignored (a sipedge peer speaking claims). */
  #claimsFrom(t: Tag, src: number): boolean {
    return t.failover && this.#host.failoverPeers(t.clusterId).some((p) => p.id === src);
  }

  /** Failover timers: take over an orphaned tag, step down without a majority, re-announce. */
  tick(): void {
    if (!this.#failover) return;
    const now = this.#host.now();
    for (const t of this.#tags.values()) {
      if (!t.failover) continue;
      const peers = this.#host.failoverPeers(t.clusterId);
      if (peers.length > 0) this.#failoverSeen.add(t.clusterId);
      if (t.active) {
        // the required data gates taking a tag over, not keeping it: an owner whose data is
        // still syncing (a cold start, an MI activation) would leave the tag with nobody.
        // Without a majority it steps down only if another node runs failover and may take
        // the tag: OpenSIPS nodes never take one by themselves (they go backup only when
        // another node announces itself active), so beside them this node keeps it, as an
        // OpenSIPS owner would
        if (!this.#host.eligible(t.clusterId, []) && this.#failoverSeen.has(t.clusterId)) {
          t.ineligibleSince ??= now;
          if (now - t.ineligibleSince >= this.#holdDown) {
            t.sendActive = false;
            this.#change(t, false, 'failover: lost the majority');
          }
          continue;
        }
        t.ineligibleSince = undefined;
        if (now - t.lastAnnounce >= this.#announceMs) {
          t.lastAnnounce = now;
          for (const p of peers) this.#claim(t, p.id);
        }
        continue;
      }
      if (t.owner !== undefined && this.#host.reachable(t.clusterId, t.owner)) {
        t.ownerLostAt = undefined;
        continue;
      }
      t.ownerLostAt ??= Math.max(now, this.#startedAt);
      let req = this.#requires[this.#key(t.name, t.clusterId)] ?? [];
      if (t.preferred && !this.#host.anyPeerSynced(t.clusterId, req)) req = [];
      if (!this.#host.eligible(t.clusterId, req)) continue;
      const me = { id: this.#host.myNodeId, priority: this.#host.myPriority(t.clusterId) };
      const ranked = [...peers, me].sort((a, b) => a.priority - b.priority || a.id - b.id);
      const rank = ranked.findIndex((p) => p.id === me.id);
      if (now - t.ownerLostAt < this.#holdDown * (1 + rank)) continue;
      const lost = t.owner;
      this.activate(
        t.name,
        t.clusterId,
        lost === undefined ? 'failover: no owner' : `failover: owner ${lost} unreachable`,
      );
    }
  }

  #announce(t: Tag, dst: number): void {
    const r = this.#host.sendRouted(t.clusterId, dst, {
      kind: 'shtag_active',
      cluster: t.clusterId,
      src: this.#host.myNodeId,
      dst,
      tag: t.name,
    });
    if (r === 1) {
      t.told.add(dst);
      this.#host.count('shtag_active_sent');
    } else t.sendActive = true;
  }

  /** SHTAG_ACTIVE from another node: it is the owner now, this node is backup. */
  onActive(clusterId: number, src: number, name: string): void {
    if (!TAG_NAME.test(name)) return void this.#host.count('drop_bad_shtag_name');
    const t = this.#ensure(name, clusterId);
    if (t === undefined) return;
    if (this.#claimsFrom(t, src)) return void this.#host.count('shtag_active_ignored');
    this.#host.count('shtag_active_recv');
    t.owner = src;
    t.ownerLostAt = undefined;
    t.sendActive = false;
    t.told.clear();
    this.#change(t, false, `cluster broadcast from ${src}`);
  }

  /**
   * A node became unreachable: the hold-down of the tags it owned starts now, not at the next
   * tick (which may be up to a tick later).
   */
  nodeDown(clusterId: number, nodeId: number): void {
    this.#claimOwed.get(clusterId)?.delete(nodeId);
    const now = this.#host.now();
    for (const t of this.#tags.values()) {
      if (t.failover && !t.active && t.clusterId === clusterId && t.owner === nodeId)
        t.ownerLostAt ??= now;
    }
  }

  /** A node became reachable: announce the tags still to be announced to it. */
  nodeUp(clusterId: number, nodeId: number): void {
    const peer = this.#isFailoverPeer(clusterId, nodeId);
    if (!peer) this.#owed(clusterId).add(nodeId);
    for (const t of this.#tags.values()) {
      // failover: a node that (re)appears learns the owner at once (two actives meet here)
      if (peer && t.failover && t.clusterId === clusterId && t.active) this.#claim(t, nodeId);
      if (t.clusterId !== clusterId || !t.active || !t.sendActive || t.told.has(nodeId)) continue;
      this.#announce(t, nodeId);
    }
  }

  /** Capabilities were learnt: the claims owed to nodes now known to run sipedge failover. */
  capsLearnt(clusterId: number): void {
    const owed = this.#claimOwed.get(clusterId);
    if (owed === undefined || owed.size === 0) return;
    for (const p of this.#host.failoverPeers(clusterId)) {
      if (!owed.delete(p.id)) continue;
      for (const t of this.#tags.values())
        if (t.failover && t.clusterId === clusterId && t.active) this.#claim(t, p.id);
    }
  }

  #isFailoverPeer(clusterId: number, nodeId: number): boolean {
    return this.#host.failoverPeers(clusterId).some((p) => p.id === nodeId);
  }

  #owed(clusterId: number): Set<number> {
    const known = this.#claimOwed.get(clusterId);
    if (known !== undefined) return known;
    const owed = new Set<number>();
    this.#claimOwed.set(clusterId, owed);
    return owed;
  }
}
