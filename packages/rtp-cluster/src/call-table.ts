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
 * Deleted calls are most of the table (60 s of them at thousands of calls a second) and outlive
 * several young-generation collections, so they are kept without an object each: a map from
 * call-id to a sequence number, and a queue in deletion order (member, times, call-id in three
 * arrays; the times in a packed array of doubles). Every object that survives a young
 * collection is copied twice before it reaches the old generation; a deleted call now costs
 * that for its call-id string alone.
 */

export interface CallTableClock {
  now(): number;
}

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
  readonly clock?: CallTableClock;
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

/** Queue records below this many are not worth compacting away. */
const COMPACT_MIN = 4096;

export class CallTable {
  readonly #clock: CallTableClock;
  readonly #deletedTtlMs: number;
  readonly #idleTtlMs: number;
  readonly #maxEntries: number;
  readonly #onChange: ((change: CallTableChange) => void) | undefined;
  /** Live bindings in least-recently-used order (a Map keeps insertion order). */
  readonly #live = new Map<string, Entry>();
  /** Deleted calls: call-id → sequence number of its record in the deletion queue. */
  readonly #deleted = new Map<string, number>();
  /**
   * The deletion queue, oldest first: record `seq` is at index `seq - #qBase`; records from
   * `#qHead` on are current unless their call was re-bound, re-deleted or dropped since (then
   * `#deleted` no longer maps the call-id to that sequence number, and the record is skipped).
   */
  #qId: string[] = [];
  #qMember: string[] = [];
  #qSeen: number[] = [];
  #qAt: number[] = [];
  #qBase = 0;
  #qHead = 0;
  readonly #perMember = new Map<string, number>();
  #evictions = 0;

  constructor(options: CallTableOptions = {}) {
    this.#clock = options.clock ?? { now: () => Date.now() };
    this.#deletedTtlMs = options.deletedTtlMs ?? 60_000;
    this.#idleTtlMs = options.idleTtlMs ?? 4 * 3_600_000;
    this.#maxEntries = options.maxEntries ?? 1_000_000;
    this.#onChange = options.onChange;
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
    const seq = this.#deleted.get(callId);
    return seq === undefined ? undefined : this.#qMember[seq - this.#qBase];
  }

  /** Binds (or re-binds) a call to a member; a deleted call becomes live again. */
  bind(callId: string, member: string): void {
    const now = this.#clock.now();
    const previous = this.#live.get(callId);
    if (previous !== undefined) {
      this.#live.delete(callId);
      this.#count(previous.member, -1);
    }
    this.#deleted.delete(callId);
    this.#live.set(callId, { member, lastSeen: now });
    this.#count(member, +1);
    this.#onChange?.({ type: 'bind', binding: { callId, member, lastSeen: now } });
    this.#enforceBound();
  }

  /** Records that D was seen: the binding is kept for `deletedTtlMs` more. */
  markDeleted(callId: string): void {
    const entry = this.#live.get(callId);
    if (entry === undefined) return;
    this.#live.delete(callId);
    this.#count(entry.member, -1);
    const now = this.#clock.now();
    this.#pushDeleted(callId, entry.member, now, now);
    this.#onChange?.({ type: 'delete', callId, member: entry.member });
  }

  #pushDeleted(callId: string, member: string, lastSeen: number, deletedAt: number): void {
    this.#deleted.set(callId, this.#qBase + this.#qId.length);
    this.#qId.push(callId);
    this.#qMember.push(member);
    this.#qSeen.push(lastSeen);
    this.#qAt.push(deletedAt);
  }

  /** Whether queue index `i` is the current record of its call. */
  #current(i: number): boolean {
    return this.#deleted.get(this.#qId[i]!) === this.#qBase + i;
  }

  /** Drops the queue records before `#qHead` once they are many (amortised O(1)). */
  #compact(): void {
    const head = this.#qHead;
    if (head < COMPACT_MIN || head * 2 < this.#qId.length) return;
    this.#qId = this.#qId.slice(head);
    this.#qMember = this.#qMember.slice(head);
    this.#qSeen = this.#qSeen.slice(head);
    this.#qAt = this.#qAt.slice(head);
    this.#qBase += head;
    this.#qHead = 0;
  }

  /** Drops every binding of a member (it was removed from the cluster). */
  forgetMember(member: string): number {
    let dropped = 0;
    for (const [callId, entry] of this.#live) {
      if (entry.member !== member) continue;
      this.#live.delete(callId);
      dropped++;
      this.#onChange?.({ type: 'expire', callId, member });
    }
    for (let i = this.#qHead; i < this.#qId.length; i++) {
      if (this.#qMember[i] !== member || !this.#current(i)) continue;
      const callId = this.#qId[i]!;
      this.#deleted.delete(callId);
      dropped++;
      this.#onChange?.({ type: 'expire', callId, member });
    }
    this.#perMember.delete(member);
    return dropped;
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
    const ids = this.#qId;
    let i = this.#qHead;
    for (; i < ids.length; i++) {
      if (now - this.#qAt[i]! < this.#deletedTtlMs) break;
      if (!this.#current(i)) continue;
      this.#deleted.delete(ids[i]!);
      removed++;
      this.#onChange?.({ type: 'expire', callId: ids[i]!, member: this.#qMember[i]! });
    }
    this.#qHead = i;
    this.#compact();
    for (const [callId, entry] of this.#live) {
      if (now - entry.lastSeen < this.#idleTtlMs) break;
      this.#live.delete(callId);
      this.#count(entry.member, -1);
      removed++;
      this.#onChange?.({ type: 'expire', callId, member: entry.member });
    }
    return removed;
  }

  /** Every binding, oldest first, for persistence or replication. */
  snapshot(): CallBinding[] {
    const out: CallBinding[] = [];
    for (let i = this.#qHead; i < this.#qId.length; i++) {
      if (!this.#current(i)) continue;
      out.push({
        callId: this.#qId[i]!,
        member: this.#qMember[i]!,
        lastSeen: this.#qSeen[i]!,
        deletedAt: this.#qAt[i]!,
      });
    }
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
      const seq = this.#deleted.get(b.callId);
      const seen =
        live?.lastSeen ?? (seq === undefined ? undefined : this.#qSeen[seq - this.#qBase]);
      if (seen !== undefined && seen > b.lastSeen) continue;
      if (live !== undefined) {
        this.#live.delete(b.callId);
        this.#count(live.member, -1);
      }
      this.#deleted.delete(b.callId);
      if (b.deletedAt !== undefined) {
        this.#pushDeleted(b.callId, b.member, b.lastSeen, b.deletedAt);
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
      if (this.#deleted.size > 0) {
        while (!this.#current(this.#qHead)) this.#qHead++;
        const i = this.#qHead++;
        const callId = this.#qId[i]!;
        this.#deleted.delete(callId);
        this.#evictions++;
        this.#onChange?.({ type: 'expire', callId, member: this.#qMember[i]! });
        continue;
      }
      const first = this.#live.entries().next();
      if (first.done === true) return;
      const [callId, entry] = first.value;
      this.#live.delete(callId);
      this.#count(entry.member, -1);
      this.#evictions++;
      this.#onChange?.({ type: 'expire', callId, member: entry.member });
    }
    this.#compact();
  }
}
