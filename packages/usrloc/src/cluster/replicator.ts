import type { ModulePacket, ModulePayload, ReplicationChannel } from '@sipedge/clusterer';
import { type Logger, LogLimiter, noopLogger } from '@sipedge/core';
import type { ContactChange, RemoteChange } from '../location/changes.js';
import type { Location } from '../location/location.js';
import type { TombstoneEntry } from '../location/tombstones.js';
import { type ContactRecord, isValid } from '../model.js';
import { ReplDecodeError, ReplWriter } from './bytes.js';
import {
  decodeChange,
  decodeSyncChunk,
  encodeChange,
  encodeSyncRecord,
  encodeSyncTombstone,
  PacketType,
  SyncBatchEncoder,
  USRLOC_REPL_VERSION,
} from './codec.js';
import { DigestSum } from './digest.js';
import { decodeUlPacket, decodeUlSyncChunk } from './opensips/codec.js';
import {
  aorStanding,
  openSipsIdOf,
  openSipsRecord,
  ulApplyOf,
  ulDomainOf,
  ulPacketsOf,
  ulSyncChunks,
} from './opensips/live.js';
import { UL_BIN_VERSION } from './opensips/packets.js';

/** The clusterer capability name, as OpenSIPS's usrloc. */
export const USRLOC_REPL_CAP = 'usrloc-contact-repl';

export interface UsrlocReplicatorOptions {
  readonly location: Location;
  /** The cluster to replicate over (a `Clusterer`, or any other ReplicationChannel). */
  readonly clusterer: ReplicationChannel;
  /** Cluster to replicate in (default 1; OpenSIPS `location_cluster`). */
  readonly clusterId?: number;
  /** Ask a donor for every binding at startup (default true: sync-from-cluster). */
  readonly startupSync?: boolean;
  /**
   * After a node comes back synced (partition healed, restart with its data kept), merge its
   * data at once (default true); a node that comes up syncing is left to anti-entropy.
   */
  readonly resyncOnNodeUp?: boolean;
  readonly logger?: Logger;
}

/** What the replicator counted (drops by reason, sends, applies). */
export interface ReplCounters {
  sent: number;
  send_failures: number;
  received: number;
  applied: number;
  ignored: number;
  expired_skipped: number;
  drop_malformed: number;
  drop_version: number;
  drop_forged: number;
  drop_domain: number;
  apply_errors: number;
  sync_items_sent: number;
  sync_items_received: number;
}

const TYPE_OF = {
  insert: PacketType.INSERT,
  update: PacketType.UPDATE,
  refresh: PacketType.REFRESH,
  delete: PacketType.DELETE,
} as const;

/**
 * Full-sharing replication of a `Location` over the clusterer capability `usrloc-contact-repl`:
 * every committed local insert, update, refresh and delete (un-REGISTER, eviction, MI,
 * ping-timeout; not expiry, which each node does from the absolute expiry) goes to every node
 * of the cluster; received changes go through `Location.applyRemote` (ordered by Call-ID/CSeq,
 * then last modified, then node id; tombstones). Startup sync and resyncs use the clusterer's
 * capability sync in merge mode: a donor sends every valid binding and every tombstone, the
 * receiver applies them as remote changes. The dataset digest (order-independent sum of
 * per-binding hashes, O(1) to read) feeds the clusterer's anti-entropy, so a node that missed
 * packets converges by itself.
 */
export class UsrlocReplicator {
  readonly clusterId: number;
  readonly counters: ReplCounters = {
    sent: 0,
    send_failures: 0,
    received: 0,
    applied: 0,
    ignored: 0,
    expired_skipped: 0,
    drop_malformed: 0,
    drop_version: 0,
    drop_forged: 0,
    drop_domain: 0,
    apply_errors: 0,
    sync_items_sent: 0,
    sync_items_received: 0,
  };
  readonly #location: Location;
  readonly #node: ReplicationChannel;
  readonly #log: Logger;
  readonly #w = new ReplWriter();
  /** The bindings held, as the sums of their hashes (kept up to date change by change). */
  readonly #digest = new DigestSum();
  readonly #unsubscribe: () => void;
  #unsubscribeStatus: () => void = () => {};
  /** One line per sender a minute about packets this node cannot read. */
  readonly #dropLog = new LogLimiter();
  /** Sync items decoded and not yet applied (applied in batches, one store write each). */
  readonly #pending: RemoteChange[] = [];
  /** The time sync items of the current batch are judged (expired or not) against. */
  #syncNow = 0;

  constructor(options: UsrlocReplicatorOptions) {
    this.#location = options.location;
    this.#node = options.clusterer;
    this.#log = options.logger ?? noopLogger;
    this.clusterId = options.clusterId ?? 1;
    if (this.#node.myNodeId !== this.#location.nodeId) {
      throw new RangeError(
        `location node id ${this.#location.nodeId} differs from clusterer node id ${this.#node.myNodeId}`,
      );
    }
    for (const c of this.#location.allContacts()) this.#digest.add(c);
    this.#unsubscribe = this.#location.onChange((changes) => this.#onLocal(changes));
    this.#node.registerCapability(
      USRLOC_REPL_CAP,
      {
        onPacket: (p) => this.#onPacket(p),
        // streamed: the clusterer pulls items as the link drains (bounded memory on the
        // donor); each binding is sent as it is when read, later changes follow as events
        // an OpenSIPS node (no sipedge mark) is answered in OpenSIPS's own layout (version 5)
        openSync: (target) =>
          this.#node.speaksSipedge(target.clusterId, target.nodeId)
            ? { items: this.#syncItems() }
            : {
                items: ulSyncChunks(
                  this.#location.aorEntries(),
                  this.#location.clock.now(),
                  this.#location.domain,
                  () => this.counters.sync_items_sent++,
                ),
                dataVersion: UL_BIN_VERSION,
              },
        onSyncChunk: (chunk, meta) => this.#onSyncChunk(chunk, meta.dataVersion, meta.srcId),
        onSyncDone: () => this.#flushSync(),
        digest: () => this.digest(),
        stamp: () => this.stamp(),
      },
      {
        clusterId: this.clusterId,
        startupSync: options.startupSync ?? true,
        syncMode: 'merge',
        resyncOnNodeUp: options.resyncOnNodeUp ?? true,
        dataVersion: USRLOC_REPL_VERSION,
        // an OpenSIPS donor's sync (layout 5) is read too
        readsDataVersions: [USRLOC_REPL_VERSION, UL_BIN_VERSION],
      },
    );
    // apply what a sync delivered before its end is announced (and before held packets replay)
    this.#unsubscribeStatus = this.#node.onCapStatus((e) => {
      if (e.capability === USRLOC_REPL_CAP) this.#flushSync();
    });
  }

  /**
   * Every valid binding (in batch chunks of up to 128), then every tombstone (one chunk
   * each), encoded when pulled. A plain iterator over the live AoR index (no generator frames
   * per item).
   */
  #syncItems(): Iterator<Buffer> {
    // a writer per stream: batches of two streams at once must not share a slab cursor
    const batch = new SyncBatchEncoder(new ReplWriter());
    const tombW = new ReplWriter();
    const aors = this.#location.aorEntries();
    let list: readonly ContactRecord[] = [];
    let i = 0;
    let tombs: Iterator<TombstoneEntry> | undefined;
    let now = this.#location.clock.now();
    let sinceClock = 0;
    const done: IteratorResult<Buffer> = { done: true, value: undefined };
    const next = (): IteratorResult<Buffer> => {
      while (tombs === undefined) {
        if (i < list.length) {
          const c = list[i++] as ContactRecord;
          if (++sinceClock >= 1024) {
            now = this.#location.clock.now();
            sinceClock = 0;
          }
          if (!isValid(c, now)) continue;
          this.counters.sync_items_sent++;
          // a binding an OpenSIPS node wrote carries its OpenSIPS-only fields: a chunk of its own
          if (c.opensips !== undefined) return { done: false, value: encodeSyncRecord(tombW, c) };
          const full = batch.add(c);
          if (full !== undefined) return { done: false, value: full };
          continue;
        }
        const e = aors.next();
        if (e.done === true) {
          tombs = this.#location.tombstones();
          const last = batch.flush();
          if (last !== undefined) return { done: false, value: last };
        } else {
          list = e.value[1];
          i = 0;
        }
      }
      const t = tombs.next();
      if (t.done === true) return done;
      this.counters.sync_items_sent++;
      return { done: false, value: encodeSyncTombstone(tombW, t.value) };
    };
    return { next };
  }

  /**
   * How new the bindings held are: the latest change (ms) among them and the tombstones. When
   * no node can be a donor at a cold start, the nodes agree on the one with the newest data.
   */
  stamp(): number {
    let latest = 0;
    for (const c of this.#location.allContacts()) latest = Math.max(latest, c.lastModified);
    for (const t of this.#location.tombstones()) latest = Math.max(latest, t.deletedAt);
    return latest;
  }

  /** Order-independent digest of the bindings held: `count:h1:h2`. */
  digest(): string {
    return this.#digest.toString();
  }

  /** Does this node hold the whole dataset (capability synced)? */
  get synced(): boolean {
    return this.#node.isSynced(USRLOC_REPL_CAP);
  }

  /**
   * May a REGISTER accepted now be answered 200? Not while this node waits for its first sync
   * with no other node reachable: the binding would live on this node alone.
   */
  get mayAcknowledge(): boolean {
    return this.#node.mayAcknowledge(USRLOC_REPL_CAP);
  }

  /** Ask the cluster for a full (merge) sync now — MI `ul_cluster_sync`. */
  clusterSync(): boolean {
    return this.#node.requestSync(USRLOC_REPL_CAP);
  }

  /** Stop sending local changes (the capability stays registered until the clusterer goes). */
  close(): void {
    this.#unsubscribe();
    this.#unsubscribeStatus();
  }

  #onLocal(changes: readonly ContactChange[]): void {
    for (let i = 0; i < changes.length; i++) {
      const ch = changes[i] as ContactChange;
      // the location says what the id held before (nothing for an insert)
      if (ch.previous !== undefined) this.#digest.remove(ch.previous);
      if (ch.type !== 'delete') this.#digest.add(ch.contact);
      if (ch.reason === 'replicated' || ch.reason === 'expired') continue;
      this.#send(ch, changes, i);
    }
  }

  /**
   * One local change to every node: sipedge's layout to sipedge nodes, OpenSIPS's (layout 5,
   * with its AoR packets) to the others. `changes` (all of one AoR, `ch` at `index`) says
   * whether the AoR is new or left empty.
   */
  #send(ch: ContactChange, changes: readonly ContactChange[], index: number): void {
    if (!this.#node.hasReachable(this.clusterId)) {
      // a lone node (or cut off): nobody to tell; the resync when a node comes back repairs
      this.counters.send_failures++;
      return;
    }
    let body: Buffer;
    let ul: readonly { type: number; body: Buffer }[] | undefined;
    try {
      body = encodeChange(this.#w, {
        domain: this.#location.domain,
        contact: ch.contact,
        at: ch.type === 'delete' ? this.#location.clock.now() : ch.contact.lastModified,
        nodeId: this.#node.myNodeId,
      });
    } catch (err) {
      this.counters.send_failures++;
      this.#log.error({ err, id: ch.contact.id }, 'usrloc replication: cannot encode contact');
      return;
    }
    const sipedge: ModulePayload = {
      capability: USRLOC_REPL_CAP,
      version: USRLOC_REPL_VERSION,
      type: TYPE_OF[ch.type],
      body,
    };
    // the OpenSIPS packets are made once, for the first node without the sipedge mark
    const openSips = (): readonly { type: number; body: Buffer }[] => {
      ul ??= ulPacketsOf(
        ch,
        this.#location.domain,
        aorStanding(ch, changes, index, this.#location.contacts(ch.contact.aor)),
      );
      return ul;
    };
    // a node whose capabilities are not known yet gets sipedge's layout: an OpenSIPS node
    // drops it (and syncs at its start), a sipedge node must not get OpenSIPS ids for its own
    const isOpenSips = (dst: number): boolean => this.#node.isOpenSipsNode(this.clusterId, dst);
    const r = this.#node.sendAll(this.clusterId, (dst) => {
      if (!isOpenSips(dst)) return sipedge;
      const [first] = openSips();
      return first === undefined ? undefined : { ...sipedge, version: UL_BIN_VERSION, ...first };
    });
    // the AoR delete after a contact delete (or the insert after an AoR insert)
    for (const next of ul?.slice(1) ?? []) {
      this.#node.sendAll(this.clusterId, (dst) =>
        isOpenSips(dst)
          ? { capability: USRLOC_REPL_CAP, version: UL_BIN_VERSION, ...next }
          : undefined,
      );
    }
    // -2 (nobody reachable) is normal for a lone node; the startup/anti-entropy sync repairs
    if (r === 1) this.counters.sent++;
    else this.counters.send_failures++;
  }

  #onPacket(p: ModulePacket): void {
    this.counters.received++;
    if (p.version === UL_BIN_VERSION) {
      this.#onOpenSipsPacket(p);
      return;
    }
    if (p.version !== USRLOC_REPL_VERSION) {
      this.counters.drop_version++;
      const held = this.#dropLog.admit(`version/${p.srcId}`);
      if (held !== undefined) {
        this.#log.warn(
          {
            capability: USRLOC_REPL_CAP,
            node: p.srcId,
            type: p.type,
            version: p.version,
            reads: [USRLOC_REPL_VERSION, UL_BIN_VERSION],
            suppressed: held,
          },
          'usrloc replication packet of a version this node cannot read dropped',
        );
      }
      return;
    }
    let ch: ReturnType<typeof decodeChange>;
    try {
      ch = decodeChange(p.type, p.body);
    } catch (err) {
      this.counters.drop_malformed++;
      this.#log.warn({ err, src: p.srcId }, 'usrloc replication: malformed packet dropped');
      return;
    }
    if (ch.nodeId !== p.srcId) {
      this.counters.drop_forged++;
      return;
    }
    if (ch.domain !== this.#location.domain) {
      this.counters.drop_domain++;
      return;
    }
    const put = ch.type !== PacketType.DELETE;
    if (put && !isValid(ch.contact, this.#location.clock.now())) {
      this.counters.expired_skipped++;
      return;
    }
    this.#apply(put ? 'put' : 'delete', ch.contact, ch.at, ch.nodeId);
  }

  /** A live packet of an OpenSIPS node (layout 5): applied as a remote change. */
  #onOpenSipsPacket(p: ModulePacket): void {
    let ul: ReturnType<typeof decodeUlPacket>;
    try {
      ul = decodeUlPacket(p.type, p.body);
    } catch (err) {
      this.counters.drop_malformed++;
      this.#log.warn({ err, src: p.srcId }, 'usrloc replication: malformed packet dropped');
      return;
    }
    const domain = ulDomainOf(ul);
    if (domain !== this.#location.domain) {
      this.counters.drop_domain++;
      return;
    }
    const now = this.#location.clock.now();
    const what = ulApplyOf(ul, p.srcId, (aor) => this.#location.contacts(aor), now);
    if (what.kind === 'none') this.counters.ignored++;
    else if (what.kind === 'expired') this.counters.expired_skipped++;
    else {
      const ch = what.change;
      this.#apply(ch.type, ch.contact, ch.at, ch.nodeId);
    }
  }

  #apply(type: 'put' | 'delete', contact: ContactRecord, at: number, nodeId: number): void {
    try {
      const r = this.#location.applyRemote({ type, contact, at, nodeId });
      if (r === 'applied') this.counters.applied++;
      else this.counters.ignored++;
    } catch (err) {
      // the store refused the write: nothing changed; anti-entropy brings it again
      this.counters.apply_errors++;
      this.#log.error({ err, id: contact.id }, 'usrloc replication: apply failed');
    }
  }

  #onSyncChunk(chunk: Buffer, dataVersion: number, src: number): void {
    // a malformed chunk throws: the clusterer fails this sync and retries (never "synced")
    if (dataVersion === UL_BIN_VERSION) this.#onOpenSipsChunk(chunk, src);
    else decodeSyncChunk(chunk, this.#onSyncRecord, this.#onSyncTombstone);
  }

  /**
   * A chunk of an OpenSIPS donor's sync: its AoR chunks carry nothing sipedge keeps; each
   * binding is merged as a sipedge record under the id the live path would give it, its
   * OpenSIPS-only fields kept with it.
   */
  #onOpenSipsChunk(chunk: Buffer, src: number): void {
    const c = decodeUlSyncChunk(chunk);
    if (c.kind === 'aor') return;
    const id = openSipsIdOf(this.#location.contacts(c.contact.aor), c.contact);
    this.#onSyncRecord(openSipsRecord(c.contact, id, src));
  }

  readonly #onSyncRecord = (c: ContactRecord): void => {
    this.counters.sync_items_received++;
    // the clock is read once per batch (a few ms of items)
    if (this.#pending.length === 0) this.#syncNow = this.#location.clock.now();
    if (!isValid(c, this.#syncNow)) {
      this.counters.expired_skipped++;
      return;
    }
    this.#pending.push({ type: 'put', contact: c, at: c.lastModified, nodeId: c.nodeId });
    if (this.#pending.length >= SYNC_BATCH) this.#flushSync();
  };

  readonly #onSyncTombstone = (t: TombstoneEntry): void => {
    this.counters.sync_items_received++;
    this.#pending.push({
      type: 'delete',
      contact: tombstoneRecord(t),
      at: t.deletedAt,
      nodeId: t.nodeId,
    });
    if (this.#pending.length >= SYNC_BATCH) this.#flushSync();
  };

  #flushSync(): void {
    if (this.#pending.length === 0) return;
    const batch = this.#pending.splice(0);
    try {
      // the donor holds all of it: the store may persist it behind the sync
      const n = this.#location.applyRemoteMany(batch, { persistBehind: true });
      this.counters.applied += n;
      this.counters.ignored += batch.length - n;
    } catch (err) {
      this.counters.apply_errors += batch.length;
      this.#log.error({ err, n: batch.length }, 'usrloc replication: sync batch apply failed');
    }
  }
}

/** Sync items applied per store write. */
const SYNC_BATCH = 1024;

/** A record carrying only what a remote delete compares (id, AoR and version). */
function tombstoneRecord(t: {
  id: string;
  aor: string;
  callId: string;
  cseq: number;
  at: number;
  nodeId: number;
}): ContactRecord {
  return {
    id: t.id,
    aor: t.aor,
    uri: '',
    params: '',
    received: null,
    path: [],
    expires: 0,
    q: null,
    callId: t.callId,
    cseq: t.cseq,
    flags: 0,
    userAgent: null,
    socket: null,
    methods: null,
    instance: null,
    regId: null,
    lastModified: t.at,
    nodeId: t.nodeId,
    shtag: null,
  };
}

export { ReplDecodeError };
