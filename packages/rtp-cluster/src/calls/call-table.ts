/**
 * The call-id → member table that keeps every command of a call on the member that holds its
 * sessions (all media numbers of the call share the call-id). A deleted call stays bound for
 * `deletedTtlMs` so that late retransmits and a second D still reach the same member; an idle
 * binding ages out after `idleTtlMs`; the table is bounded and evicts the least recently used
 * binding (a lost binding is recovered by the balancer's broadcast lookup).
 *
 * The table can be snapshotted and restored (the daemon persists it; the cluster node
 * replicates it), and reports every change to an optional listener.
 *
 * Deleted calls are most of the table (60 s of them at thousands of calls a second) and would
 * outlive several young-generation collections; they are kept outside the JavaScript heap
 * (`DeletedCalls`: typed arrays and a code-unit arena), so the collector never copies them.
 */

import { type Clock, systemClock } from '@sipedge/core';
import { DeletedCalls } from './deleted-calls.js';

export interface CallBinding {
  readonly callId: string;
  readonly member: string;
  /** When the binding was last used (ms, the clock's time base). */
  readonly lastSeen: number;
  /** When D was seen for the call, if it was. */
  readonly deletedAt?: number;
}

export type CallTableChange =
  | { readonly type: 'bind'; readonly binding: CallBinding }
  | { readonly type: 'delete'; readonly callId: string; readonly member: string }
  | { readonly type: 'expire'; readonly callId: string; readonly member: string };

export interface CallTableOptions {
  readonly clock?: Pick<Clock, 'now'>;
  /** How long a deleted call keeps its binding (late retransmits). Default 60 s. */
  readonly deletedTtlMs?: number;
  /** How long an unused binding lives. Default 4 h. */
  readonly idleTtlMs?: number;
  /** Bound on bindings; beyond it the least recently used is evicted. Default 1,000,000. */
  readonly maxEntries?: number;
  readonly onChange?: (change: CallTableChange) => void;
}

interface Entry {
  member: string;
  lastSeen: number;
}

export class CallTable {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #deletedTtlMs: number;
  readonly #idleTtlMs: number;
  readonly #maxEntries: number;
  /** The `onChange` option first, then every `subscribe`r. */
  #listeners: readonly ((change: CallTableChange) => void)[];
  /** Live bindings in least-recently-used order (a Map keeps insertion order). */
  readonly #live = new Map<string, Entry>();
  /** Deleted calls, in deletion order. */
  readonly #deleted = new DeletedCalls();
  readonly #perMember = new Map<string, number>();
  #evictions = 0;

  constructor(options: CallTableOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#deletedTtlMs = options.deletedTtlMs ?? 60_000;
    this.#idleTtlMs = options.idleTtlMs ?? 4 * 3_600_000;
    this.#maxEntries = options.maxEntries ?? 1_000_000;
    this.#listeners = options.onChange === undefined ? [] : [options.onChange];
  }

  /** The member holding the call, live or recently deleted; marks the binding used. */
  lookup(callId: string): string | undefined {
    const live = this.#live.get(callId);
    if (live !== undefined) {
      live.lastSeen = this.#clock.now();
      this.#live.delete(callId);
      this.#live.set(callId, live);
      return live.member;
    }
    return this.#deleted.member(callId);
  }

  /** Binds (or re-binds) a call to a member; a deleted call becomes live again. */
  bind(callId: string, member: string): void {
    const now = this.#clock.now();
    const previous = this.#live.get(callId);
    if (previous !== undefined) {
      this.#live.delete(callId);
      this.#count(previous.member, -1);
    }
    this.#deleted.remove(callId);
    this.#live.set(callId, { member, lastSeen: now });
    this.#count(member, +1);
    this.#changed('bind', callId, member, now);
    this.#enforceBound();
  }

  /** Records that D was seen: the binding is kept for `deletedTtlMs` more. */
  markDeleted(callId: string): void {
    const entry = this.#live.get(callId);
    if (entry === undefined) return;
    this.#live.delete(callId);
    this.#count(entry.member, -1);
    const now = this.#clock.now();
    this.#deleted.add(callId, entry.member, now, now);
    this.#changed('delete', callId, entry.member);
  }

  /** Drops every binding of a member (it was removed from the cluster). */
  forgetMember(member: string): number {
    let dropped = 0;
    for (const [callId, entry] of this.#live) {
      if (entry.member !== member) continue;
      this.#live.delete(callId);
      dropped++;
      this.#changed('expire', callId, member);
    }
    dropped += this.#deleted.removeMember(member, (callId) =>
      this.#changed('expire', callId, member),
    );
    this.#perMember.delete(member);
    return dropped;
  }

  /** Calls `listener` with every change from now on, after `onChange`; returns the unsubscribe. */
  subscribe(listener: (change: CallTableChange) => void): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** Tells the listeners (nothing is built when there are none). */
  #changed(type: CallTableChange['type'], callId: string, member: string, lastSeen = 0): void {
    const list = this.#listeners;
    if (list.length === 0) return;
    const change: CallTableChange =
      type === 'bind' ? { type, binding: { callId, member, lastSeen } } : { type, callId, member };
    for (let i = 0; i < list.length; i++) list[i]!(change);
  }

  /** Whether the call is bound and not deleted (does not mark it used). */
  isLive(callId: string): boolean {
    return this.#live.has(callId);
  }

  /** Live (not deleted) calls bound to a member. */
  liveCalls(member: string): number {
    return this.#perMember.get(member) ?? 0;
  }

  get size(): number {
    return this.#live.size + this.#deleted.size;
  }

  get evictions(): number {
    return this.#evictions;
  }

  /** Removes expired bindings; returns how many. Cheap: both maps are in expiry order. */
  sweep(): number {
    const now = this.#clock.now();
    let removed = 0;
    removed += this.#deleted.expire(
      (deletedAt) => now - deletedAt >= this.#deletedTtlMs,
      (callId, member) => this.#changed('expire', callId, member),
    );
    for (const [callId, entry] of this.#live) {
      if (now - entry.lastSeen < this.#idleTtlMs) break;
      this.#live.delete(callId);
      this.#count(entry.member, -1);
      removed++;
      this.#changed('expire', callId, entry.member);
    }
    return removed;
  }

  /** Every binding, oldest first, for persistence or replication. */
  snapshot(): CallBinding[] {
    const out: CallBinding[] = [];
    for (const d of this.#deleted.entries()) out.push(d);
    for (const [callId, e] of this.#live) {
      out.push({ callId, member: e.member, lastSeen: e.lastSeen });
    }
    return out;
  }

  /**
   * Loads bindings (from a snapshot, a database or a peer). Existing bindings of the same calls
   * are replaced only by newer ones. No change events are raised for restored bindings.
   */
  restore(bindings: Iterable<CallBinding>): void {
    const sorted = [...bindings].sort((a, b) => a.lastSeen - b.lastSeen);
    for (const b of sorted) {
      const live = this.#live.get(b.callId);
      const seen = live?.lastSeen ?? this.#deleted.lastSeen(b.callId);
      if (seen !== undefined && seen > b.lastSeen) continue;
      if (live !== undefined) {
        this.#live.delete(b.callId);
        this.#count(live.member, -1);
      }
      this.#deleted.remove(b.callId);
      if (b.deletedAt !== undefined) {
        this.#deleted.add(b.callId, b.member, b.lastSeen, b.deletedAt);
      } else {
        this.#live.set(b.callId, { member: b.member, lastSeen: b.lastSeen });
        this.#count(b.member, +1);
      }
    }
    this.#enforceBound();
  }

  #count(member: string, delta: number): void {
    const n = (this.#perMember.get(member) ?? 0) + delta;
    if (n <= 0) this.#perMember.delete(member);
    else this.#perMember.set(member, n);
  }

  #enforceBound(): void {
    while (this.size > this.#maxEntries) {
      // deleted calls go first: they are the least valuable
      const evicted = this.#deleted.evictOldest();
      if (evicted !== undefined) {
        this.#evictions++;
        this.#changed('expire', evicted.callId, evicted.member);
        continue;
      }
      const first = this.#live.entries().next();
      if (first.done === true) return;
      const [callId, entry] = first.value;
      this.#live.delete(callId);
      this.#count(entry.member, -1);
      this.#evictions++;
      this.#changed('expire', callId, entry.member);
    }
  }
}
