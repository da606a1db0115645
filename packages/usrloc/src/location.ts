import { type Clock, type Logger, noopLogger, systemClock } from '@sipedge/core';
import type { EventBus, StatisticsRegistry } from '@sipedge/mi';
import { ContactIdGenerator, type ContactRecord, isValid } from './model.js';
import { MemoryStore } from './store/memory.js';
import type { ContactStore } from './store/store.js';

/** Why a contact went away or changed — carried in change events. */
export type ChangeReason =
  | 'register'
  | 'unregister'
  | 'evicted'
  | 'expired'
  | 'mi'
  | 'ping-timeout'
  | 'ping-unreachable'
  | 'replicated';

/**
 * One change, as a replicator or an event sink sees it. `insert`/`update`/`refresh` carry the
 * new record; `delete` carries the record as it was.
 */
export interface ContactChange {
  readonly type: 'insert' | 'update' | 'refresh' | 'delete';
  readonly contact: ContactRecord;
  readonly reason: ChangeReason;
  /**
   * In what `onChange` listeners receive: the record the location held under this id until
   * this change (`update`, `refresh`, `delete`; absent for `insert`). Set by the location,
   * whatever the committer passed.
   */
  readonly previous?: ContactRecord;
}

export interface LocationOptions {
  /** The usrloc table (domain) name (default `location`). */
  readonly domain?: string;
  /** This node's id (clusterer node id), stamped on every change. Default 1. */
  readonly nodeId?: number;
  readonly store?: ContactStore;
  readonly clock?: Clock;
  readonly events?: EventBus;
  readonly stats?: StatisticsRegistry;
  /** pino-compatible logger (default: none). */
  readonly logger?: Logger;
  /** How often the expiry timer runs (ms, default 10,000; OpenSIPS timer_interval). */
  readonly timerIntervalMs?: number;
  /** Contacts removed per expiry tick at most (default 100,000); the rest wait a tick. */
  readonly maxExpirePerTick?: number;
  /** How long a deleted contact id is remembered against late remote inserts (ms, default 2 h). */
  readonly tombstoneTtlMs?: number;
  /** Most tombstones kept (default 1,000,000; the oldest go first). */
  readonly maxTombstones?: number;
}

/** The new contact list of one AoR and the changes that lead to it. */
export interface AorCommit {
  readonly aor: string;
  readonly next: readonly ContactRecord[];
  readonly changes: readonly ContactChange[];
}

/** A contact change from another node (the replication payload, minus transport framing). */
export interface RemoteChange {
  readonly type: 'put' | 'delete';
  /** The full record for `put`; for `delete` the record as it was when deleted. */
  readonly contact: ContactRecord;
  /** When the change was made (ms) and by which node. */
  readonly at: number;
  readonly nodeId: number;
}

interface Version {
  readonly callId: string;
  readonly cseq: number;
  readonly at: number;
  readonly nodeId: number;
}

/** A tombstone as `Location.tombstones()` lists it (for replication and sync). */
export interface TombstoneEntry {
  readonly id: string;
  readonly aor: string;
  readonly callId: string;
  readonly cseq: number;
  /** lastModified of the deleted record. */
  readonly at: number;
  readonly nodeId: number;
  readonly deletedAt: number;
}

/** A deleted id: the version of the record that was deleted, and when. */
interface Tombstone extends Version {
  readonly aor: string;
  readonly deletedAt: number;
}

/** A tombstone from a version (a literal: an object spread costs V8 a slow clone). */
function tombstoneOf(v: Version, aor: string, deletedAt: number): Tombstone {
  return { callId: v.callId, cseq: v.cseq, at: v.at, nodeId: v.nodeId, aor, deletedAt };
}

function versionOf(c: ContactRecord): Version {
  return { callId: c.callId, cseq: c.cseq, at: c.lastModified, nodeId: c.nodeId };
}

/**
 * Is version `a` newer than `b`? Same Call-ID: higher CSeq first (RFC 3261 ordering); then
 * the later change; then the higher node id (a deterministic tie-break every node agrees on).
 */
export function newerVersion(a: Version, b: Version): boolean {
  if (a.callId === b.callId && a.cseq !== b.cseq) return a.cseq > b.cseq;
  if (a.at !== b.at) return a.at > b.at;
  return a.nodeId > b.nodeId;
}

/**
 * `changes` with `previous` set from `before` (the AoR's list until they apply) and from the
 * earlier changes of the same id in the list; inserts of new ids pass through as they are, so
 * a batch of inserts costs no copy.
 */
function withPrevious(
  changes: readonly ContactChange[],
  before: readonly ContactRecord[] | undefined,
): readonly ContactChange[] {
  let out: ContactChange[] | undefined;
  // what each id holds as the changes go: a map once the lists are long (an AoR removed with
  // thousands of bindings), plain scans for the usual one or two changes
  const long = changes.length > 8;
  let held: Map<string, ContactRecord | undefined> | undefined;
  if (long) {
    held = new Map();
    if (before !== undefined) for (const x of before) held.set(x.id, x);
  }
  for (let i = 0; i < changes.length; i++) {
    const ch = changes[i] as ContactChange;
    const id = ch.contact.id;
    let previous: ContactRecord | undefined;
    if (held !== undefined) {
      previous = held.get(id);
      held.set(id, ch.type === 'delete' ? undefined : ch.contact);
    } else if (ch.type !== 'insert' || ch.previous !== undefined) {
      // the latest earlier change of this id, else `before`
      let found = false;
      for (let j = i - 1; j >= 0 && !found; j--) {
        const e = changes[j] as ContactChange;
        if (e.contact.id !== id) continue;
        found = true;
        if (e.type !== 'delete') previous = e.contact;
      }
      if (!found && before !== undefined)
        for (const x of before)
          if (x.id === id) {
            previous = x;
            break;
          }
    }
    if (ch.type === 'insert') previous = undefined;
    if (previous === ch.previous) continue;
    out ??= changes.slice();
    out[i] =
      previous === undefined
        ? { type: ch.type, contact: ch.contact, reason: ch.reason }
        : { type: ch.type, contact: ch.contact, reason: ch.reason, previous };
  }
  return out ?? changes;
}

export const USRLOC_EVENTS = [
  'E_UL_AOR_INSERT',
  'E_UL_AOR_DELETE',
  'E_UL_CONTACT_INSERT',
  'E_UL_CONTACT_UPDATE',
  'E_UL_CONTACT_DELETE',
  'E_UL_CONTACT_REFRESH',
] as const;

const NO_PARAMS: Readonly<Record<string, unknown>> = Object.freeze({});

const EVENT_OF = {
  insert: 'E_UL_CONTACT_INSERT',
  update: 'E_UL_CONTACT_UPDATE',
  refresh: 'E_UL_CONTACT_REFRESH',
  delete: 'E_UL_CONTACT_DELETE',
} as const;

/**
 * Event params as OpenSIPS's E_UL_CONTACT_* (ul_evi.h names), plus `contact_id` and, when
 * given, `reason`: why the contact changed or went away (`unregister`, `expired`, `mi`,
 * `ping-timeout`…).
 */
export function contactEventParams(
  c: ContactRecord,
  domain = 'location',
  reason?: ChangeReason,
): Record<string, unknown> {
  const params: Record<string, unknown> = {
    domain,
    aor: c.aor,
    uri: c.uri,
    received: c.received ?? '',
    path: c.path.join(','),
    qval: c.q ?? -1,
    user_agent: c.userAgent ?? '',
    socket: c.socket ?? '',
    bflags: c.flags,
    expires: c.expires === 0 ? 0 : Math.floor(c.expires / 1000),
    callid: c.callId,
    cseq: c.cseq,
    attr: '',
    latency: 0,
    shtag: c.shtag ?? '',
    contact_id: c.id,
  };
  if (reason !== undefined) params.reason = reason;
  return params;
}

/**
 * The location table: AoR → contacts in memory, every change written to the store first
 * (one atomic batch per `commit`), then applied in memory, then announced (events, listeners).
 */
export class Location {
  readonly nodeId: number;
  /** The usrloc table (domain) name, in events and MI (default `location`). */
  readonly domain: string;
  readonly clock: Clock;
  readonly ids: ContactIdGenerator;
  readonly #store: ContactStore;
  readonly #events: EventBus | undefined;
  readonly #aors = new Map<string, ContactRecord[]>();
  readonly #listeners = new Set<(changes: readonly ContactChange[]) => void>();
  readonly #timerMs: number;
  readonly #maxExpire: number;
  readonly #tombTtl: number;
  readonly #maxTombs: number;
  /** id → version of the delete; insertion-ordered, so the oldest come first. */
  readonly #tombstones = new Map<string, Tombstone>();
  #timer: unknown;
  #contacts = 0;
  #started = false;
  readonly #expiredCounter;
  readonly #timerErrors;
  readonly #logger: Logger;

  constructor(options: LocationOptions = {}) {
    this.nodeId = options.nodeId ?? 1;
    this.domain = options.domain ?? 'location';
    this.clock = options.clock ?? systemClock;
    this.ids = new ContactIdGenerator(this.nodeId);
    this.#store = options.store ?? new MemoryStore({ keepRows: false });
    this.#events = options.events;
    this.#timerMs = options.timerIntervalMs ?? 10_000;
    this.#maxExpire = options.maxExpirePerTick ?? 100_000;
    this.#tombTtl = options.tombstoneTtlMs ?? 7_200_000;
    this.#maxTombs = options.maxTombstones ?? 1_000_000;
    if (this.#events !== undefined) for (const e of USRLOC_EVENTS) this.#events.register(e);
    const stats = options.stats;
    this.#expiredCounter = stats?.counter('usrloc', 'location-expires');
    this.#timerErrors = stats?.counter('usrloc', 'timer_errors');
    this.#logger = options.logger ?? noopLogger;
    stats?.gauge('usrloc', 'registered_users', () => this.#aors.size);
    stats?.gauge('usrloc', 'location-users', () => this.#aors.size);
    stats?.gauge('usrloc', 'location-contacts', () => this.#contacts);
    for (const c of this.#store.load()) this.#insertLoaded(c);
  }

  #insertLoaded(c: ContactRecord): void {
    const list = this.#aors.get(c.aor);
    if (list === undefined) this.#aors.set(c.aor, [c]);
    else list.push(c);
    this.#contacts++;
  }

  /** Start the expiry timer. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#arm();
  }

  /** Stop the timer, flush and close the store. Idempotent. */
  stop(): void {
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#started = false;
    this.#store.close();
  }

  /** Write out buffered changes (write-back stores). */
  flush(): void {
    this.#store.flush();
  }

  #arm(): void {
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      try {
        this.expire();
      } catch (err) {
        // the store failed: the bindings stay and the next tick retries
        this.#timerErrors?.inc();
        this.#logger.error({ err }, 'usrloc expiry failed');
      }
      if (this.#started) this.#arm();
    }, this.#timerMs);
  }

  /** Subscribe to committed changes (for a replicator); returns the unsubscribe function. */
  onChange(listener: (changes: readonly ContactChange[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get aorCount(): number {
    return this.#aors.size;
  }

  get contactCount(): number {
    return this.#contacts;
  }

  /** All contacts of an AoR, expired ones included (the registrar filters). */
  contacts(aor: string): readonly ContactRecord[] {
    return this.#aors.get(aor) ?? [];
  }

  aors(): IterableIterator<string> {
    return this.#aors.keys();
  }

  /** AoR → contacts, live: an iterator kept across ticks sees later inserts and skips deletes. */
  aorEntries(): IterableIterator<[string, readonly ContactRecord[]]> {
    return this.#aors.entries();
  }

  *allContacts(): Generator<ContactRecord> {
    for (const list of this.#aors.values()) yield* list;
  }

  /**
   * Replace the contacts of `aor` by `next` in one step: the differences are written to the
   * store as one batch (throws, changing nothing, if the store fails), then applied in memory
   * and announced. `reasons` names why each removed id went away (default 'unregister').
   */
  commit(aor: string, next: readonly ContactRecord[], changes: readonly ContactChange[]): void {
    this.commitMany([{ aor, next, changes }]);
  }

  /**
   * Commit several AoR changes (in order; the same AoR may appear more than once) as ONE store
   * batch — group commit: all land or none does — then apply and announce them in order.
   */
  commitMany(commits: readonly AorCommit[]): void {
    this.#commitBatch(commits, [], false);
  }

  /**
   * `commitMany` plus `fresh` (new AoRs, one binding each, already in the index: taken out if
   * the store refuses the write) in the same single store write.
   */
  #commitBatch(
    commits: readonly AorCommit[],
    fresh: readonly ContactRecord[],
    behind: boolean,
  ): void {
    const real = commits.filter((c) => c.changes.length > 0);
    if (real.length === 0 && fresh.length === 0) return;
    // the final state per id; an id inserted and deleted inside the group needs no write
    const final = new Map<string, ContactRecord | null>();
    const born = new Set<string>();
    for (const c of real) {
      for (const ch of c.changes) {
        const id = ch.contact.id;
        if (ch.type === 'insert' && !final.has(id)) born.add(id);
        final.set(id, ch.type === 'delete' ? null : ch.contact);
      }
    }
    const put: ContactRecord[] = fresh.length === 0 ? [] : fresh.slice();
    const del: string[] = [];
    for (const [id, c] of final) {
      if (c !== null) put.push(c);
      else if (!born.has(id)) del.push(id);
    }
    try {
      const store = this.#store;
      if (behind && store.writeBehind !== undefined) store.writeBehind({ put, del });
      else store.write({ put, del });
    } catch (err) {
      // nothing changes: the fresh AoRs applyRemoteMany indexed ahead go again
      for (const c of fresh) this.#aors.delete(c.aor);
      throw err;
    }
    if (fresh.length > 0) this.#applyFresh(fresh);
    const now = this.clock.now();
    for (const { aor, next, changes } of real) {
      for (const ch of changes) {
        if (ch.type === 'delete' && ch.reason !== 'expired') {
          const c = ch.contact;
          this.#tomb(c.id, tombstoneOf(versionOf(c), c.aor, now));
        } else if (ch.type !== 'delete' && this.#tombstones.size > 0)
          this.#tombstones.delete(ch.contact.id);
      }
      const before = this.#aors.get(aor);
      const hadAor = before !== undefined && before.length > 0;
      if (next.length === 0) this.#aors.delete(aor);
      else this.#aors.set(aor, next.slice());
      this.#contacts += next.length - (before?.length ?? 0);
      this.#announce(aor, hadAor, next.length > 0, withPrevious(changes, before));
    }
  }

  #announce(
    aor: string,
    hadAor: boolean,
    hasAor: boolean,
    changes: readonly ContactChange[],
  ): void {
    const ev = this.#events;
    if (ev !== undefined) {
      if (!hadAor && hasAor) ev.raise('E_UL_AOR_INSERT', { domain: this.domain, aor });
      for (const ch of changes) {
        const name = EVENT_OF[ch.type];
        // the params object is built only when somebody listens (the count goes up anyway)
        ev.raise(
          name,
          ev.wanted(name) ? contactEventParams(ch.contact, this.domain, ch.reason) : NO_PARAMS,
        );
      }
      if (hadAor && !hasAor) ev.raise('E_UL_AOR_DELETE', { domain: this.domain, aor });
    }
    for (const l of this.#listeners) l(changes);
  }

  #tomb(id: string, v: Tombstone): void {
    this.#tombstones.delete(id);
    this.#tombstones.set(id, v);
    while (this.#tombstones.size > this.#maxTombs) {
      const oldest = this.#tombstones.keys().next().value;
      if (oldest === undefined) break;
      this.#tombstones.delete(oldest);
    }
  }

  /** Tombstones currently kept. */
  get tombstoneCount(): number {
    return this.#tombstones.size;
  }

  /** The tombstones kept (id, AoR and the version of the deleted record), oldest first. */
  *tombstones(): Generator<TombstoneEntry> {
    for (const [id, t] of this.#tombstones)
      yield {
        id,
        aor: t.aor,
        callId: t.callId,
        cseq: t.cseq,
        at: t.at,
        nodeId: t.nodeId,
        deletedAt: t.deletedAt,
      };
  }

  /** Forget tombstones older than the TTL (runs with the expiry timer). */
  #sweepTombstones(now: number): void {
    for (const [id, v] of this.#tombstones) {
      if (now - v.deletedAt < this.#tombTtl) break; // insertion order ≈ time order
      this.#tombstones.delete(id);
    }
  }

  /**
   * Apply a change made on another node, idempotently: a put lands only if it is newer than the
   * local copy and than any tombstone of that id (a late insert cannot resurrect a deleted
   * binding); a delete lands only if newer than the local copy, and leaves a tombstone either
   * way. Duplicates and stale changes are ignored. Returns what happened.
   */
  applyRemote(change: RemoteChange): 'applied' | 'ignored' {
    const c = change.contact;
    const list = this.#aors.get(c.aor) ?? [];
    const local = list.find((x) => x.id === c.id);
    const v = versionOf(c);
    const tomb = this.#tombstones.get(c.id);
    if (change.type === 'delete') {
      if (local !== undefined && !newerVersion(versionOf(local), v)) {
        this.commit(
          c.aor,
          list.filter((x) => x !== local),
          [{ type: 'delete', contact: local, reason: 'replicated' }],
        );
        this.#tomb(c.id, tombstoneOf(v, c.aor, change.at));
        return 'applied';
      }
      if (local === undefined && (tomb === undefined || newerVersion(v, tomb))) {
        this.#tomb(c.id, tombstoneOf(v, c.aor, change.at));
      }
      return 'ignored';
    }
    if (tomb !== undefined && !newerVersion(v, tomb)) return 'ignored';
    if (local !== undefined && !newerVersion(v, versionOf(local))) return 'ignored';
    const next = local === undefined ? [...list, c] : list.map((x) => (x === local ? c : x));
    this.commit(c.aor, next, [
      { type: local === undefined ? 'insert' : 'update', contact: c, reason: 'replicated' },
    ]);
    return 'applied';
  }

  /**
   * `applyRemote` for many changes with one store write (a sync batch): each change is decided
   * against the state the earlier ones leave, exactly as applying them one by one would; if the
   * store throws nothing changes. Returns how many were applied.
   */
  applyRemoteMany(
    changes: readonly RemoteChange[],
    options: {
      /**
       * The store may write the batch in the background (`ContactStore.writeBehind`): for a
       * sync, whose data the donor also holds.
       */
      readonly persistBehind?: boolean;
    } = {},
  ): number {
    const lists = new Map<string, ContactRecord[]>();
    /** Tombstones decided in this batch; null = removed by a put that landed. */
    const tombs = new Map<string, Tombstone | null>();
    const commits: AorCommit[] = [];
    /** Puts for AoRs this node does not hold, with no tombstone anywhere: plain inserts. */
    const fresh: ContactRecord[] = [];
    let applied = 0;
    for (const change of changes) {
      const c = change.contact;
      if (
        change.type === 'put' &&
        tombs.size === 0 &&
        this.#tombstones.size === 0 &&
        !this.#aors.has(c.aor)
      ) {
        // the common case of a joiner's sync: the AoR goes into the index at once (taken out
        // again if the store refuses the batch); no list copies, no per-change commit objects.
        // A later change of the same AoR in this batch then sees it as held.
        this.#aors.set(c.aor, [c]);
        fresh.push(c);
        applied++;
        continue;
      }
      let list = lists.get(c.aor);
      if (list === undefined) {
        list = (this.#aors.get(c.aor) ?? []).slice();
        lists.set(c.aor, list);
      }
      let idx = -1;
      for (let i = 0; i < list.length; i++) {
        if ((list[i] as ContactRecord).id === c.id) {
          idx = i;
          break;
        }
      }
      const local = idx < 0 ? undefined : (list[idx] as ContactRecord);
      const v = versionOf(c);
      // (a fresh joiner's sync: no tombstones anywhere, skip those lookups)
      const pendingTomb = tombs.size === 0 ? undefined : tombs.get(c.id);
      const tomb =
        pendingTomb === null
          ? undefined
          : (pendingTomb ?? (this.#tombstones.size === 0 ? undefined : this.#tombstones.get(c.id)));
      if (change.type === 'delete') {
        if (local !== undefined && !newerVersion(versionOf(local), v)) {
          list.splice(idx, 1);
          commits.push({
            aor: c.aor,
            next: list.slice(),
            changes: [{ type: 'delete', contact: local, reason: 'replicated' }],
          });
          tombs.set(c.id, tombstoneOf(v, c.aor, change.at));
          applied++;
        } else if (local === undefined && (tomb === undefined || newerVersion(v, tomb))) {
          tombs.set(c.id, tombstoneOf(v, c.aor, change.at));
        }
        continue;
      }
      if (tomb !== undefined && !newerVersion(v, tomb)) continue;
      if (local !== undefined && !newerVersion(v, versionOf(local))) continue;
      if (local === undefined) list.push(c);
      else list[idx] = c;
      // a put that landed supersedes a tombstone for later changes in this batch
      if (tomb !== undefined || pendingTomb !== undefined) tombs.set(c.id, null);
      commits.push({
        aor: c.aor,
        next: list.slice(),
        changes: [
          { type: local === undefined ? 'insert' : 'update', contact: c, reason: 'replicated' },
        ],
      });
      applied++;
    }
    this.#commitBatch(commits, fresh, options.persistBehind === true);
    for (const [id, t] of tombs) if (t !== null) this.#tomb(id, t);
    return applied;
  }

  /** New AoRs with one binding each (decided and indexed by `applyRemoteMany`), written. */
  #applyFresh(fresh: readonly ContactRecord[]): void {
    const changes: ContactChange[] = [];
    const ev = this.#events;
    const wantAor = ev?.wanted('E_UL_AOR_INSERT') === true;
    const wantContact = ev?.wanted('E_UL_CONTACT_INSERT') === true;
    for (const c of fresh) {
      changes.push({ type: 'insert', contact: c, reason: 'replicated' });
      if (wantAor) ev!.raise('E_UL_AOR_INSERT', { domain: this.domain, aor: c.aor });
      else if (ev !== undefined) ev.raise('E_UL_AOR_INSERT', NO_PARAMS);
      if (wantContact)
        ev!.raise('E_UL_CONTACT_INSERT', contactEventParams(c, this.domain, 'replicated'));
      else if (ev !== undefined) ev.raise('E_UL_CONTACT_INSERT', NO_PARAMS);
    }
    this.#contacts += fresh.length;
    for (const l of this.#listeners) l(changes);
  }

  /** Remove every contact whose expiry has passed; returns how many went. */
  expire(): number {
    const now = this.clock.now();
    this.#sweepTombstones(now);
    let removed = 0;
    const batches: [string, ContactRecord[], ContactChange[]][] = [];
    for (const [aor, list] of this.#aors) {
      if (removed >= this.#maxExpire) break;
      const gone: ContactChange[] = [];
      for (const c of list) {
        if (!isValid(c, now)) gone.push({ type: 'delete', contact: c, reason: 'expired' });
      }
      if (gone.length === 0) continue;
      removed += gone.length;
      batches.push([aor, list.filter((c) => isValid(c, now)), gone]);
    }
    for (const [aor, next, gone] of batches) this.commit(aor, next, gone);
    this.#expiredCounter?.inc(removed);
    return removed;
  }

  /** Delete an AoR with all its contacts (MI ul_rm); false if unknown. */
  removeAor(aor: string, reason: ChangeReason = 'mi'): boolean {
    const list = this.#aors.get(aor);
    if (list === undefined) return false;
    this.commit(
      aor,
      [],
      list.map((c) => ({ type: 'delete', contact: c, reason })),
    );
    return true;
  }

  /** Delete one contact by id (MI, NAT pinger); false if unknown. */
  removeContact(aor: string, id: string, reason: ChangeReason): boolean {
    const list = this.#aors.get(aor);
    const c = list?.find((x) => x.id === id);
    if (list === undefined || c === undefined) return false;
    this.commit(
      aor,
      list.filter((x) => x !== c),
      [{ type: 'delete', contact: c, reason }],
    );
    return true;
  }
}
