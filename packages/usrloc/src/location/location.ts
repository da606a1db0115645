/**
 * The location table: AoR → contacts, the store under it, expiry, and the change listeners.
 * Tombstones, remote-change decisions and events are in the files beside it.
 */
import { type Clock, type Logger, noopLogger, systemClock } from '@sipedge/core';
import type { EventBus, StatisticsRegistry } from '@sipedge/mi';
import { ContactIdGenerator, type ContactRecord, isValid } from '../model.js';
import { MemoryStore } from '../store/memory.js';
import type { ContactStore } from '../store/store.js';
import {
  type AorCommit,
  type ChangeReason,
  type ContactChange,
  type RemoteChange,
  withPrevious,
} from './changes.js';
import { contactEventParams, EVENT_OF, NO_PARAMS, USRLOC_EVENTS } from './events.js';
import { planRemoteBatch } from './remote.js';
import {
  newerVersion,
  type TombstoneEntry,
  Tombstones,
  tombstoneOf,
  versionOf,
} from './tombstones.js';

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
  /** id → version of the delete; insertion-ordered, so the oldest come first. */
  readonly #tombstones: Tombstones;
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
    this.#tombstones = new Tombstones(
      options.tombstoneTtlMs ?? 7_200_000,
      options.maxTombstones ?? 1_000_000,
    );
    if (this.#events !== undefined) for (const e of USRLOC_EVENTS) this.#events.register(e);
    const stats = options.stats;
    this.#expiredCounter = stats?.counter('usrloc', 'location-expires', 'Contacts that expired');
    this.#timerErrors = stats?.counter(
      'usrloc',
      'timer_errors',
      'Expiry timer runs that failed (store errors)',
    );
    this.#logger = options.logger ?? noopLogger;
    const users = { help: 'Registered AORs', read: () => this.#aors.size };
    stats?.gauge('usrloc', 'registered_users', users);
    stats?.gauge('usrloc', 'location-users', { ...users, help: 'AORs in the location table' });
    stats?.gauge('usrloc', 'location-contacts', {
      help: 'Contacts in the location table',
      read: () => this.#contacts,
    });
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

  /** Where a binding stands with the database (see `ContactStore.state`). */
  dbState(id: string): 'new' | 'synced' | 'dirty' {
    return this.#store.state?.(id) ?? 'new';
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
          this.#tombstones.bury(c.id, tombstoneOf(versionOf(c), c.aor, now));
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

  /** Tombstones currently kept. */
  get tombstoneCount(): number {
    return this.#tombstones.size;
  }

  /** The tombstones kept (id, AoR and the version of the deleted record), oldest first. */
  tombstones(): Generator<TombstoneEntry> {
    return this.#tombstones.list();
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
        this.#tombstones.bury(c.id, tombstoneOf(v, c.aor, change.at));
        return 'applied';
      }
      if (local === undefined && (tomb === undefined || newerVersion(v, tomb))) {
        this.#tombstones.bury(c.id, tombstoneOf(v, c.aor, change.at));
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
    const plan = planRemoteBatch(changes, this.#aors, this.#tombstones);
    this.#commitBatch(plan.commits, plan.fresh, options.persistBehind === true);
    for (const [id, t] of plan.tombs) if (t !== null) this.#tombstones.bury(id, t);
    return plan.applied;
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
    this.#tombstones.sweep(now);
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
