/**
 * The deleted calls of the call table, kept outside the JavaScript heap.
 *
 * A deleted call stays bound for a minute (late retransmits), so at thousands of calls a second
 * the table holds hundreds of thousands of them, each outliving several young-generation
 * collections. Held as strings in a `Map`, every call-id (and the command text it was cut from)
 * was copied twice by the scavenger and then promoted, and the old-generation map kept young
 * strings alive through its remembered set: a third of everything the balancer allocated
 * survived, scavenges took 15–35 ms and the collector's threads took as much CPU again. Here a
 * deleted call is a row of typed arrays and its call-id a run of UTF-16 code units in an arena,
 * so the collector never sees it.
 *
 * Rows are appended in deletion order to the current of two generations; each generation has
 * its own open-addressing index over the call-ids' FNV-1a hashes (`fnv1a`). Expiry walks rows
 * oldest first; once every row of the older generation is gone, it is recycled as the new
 * current one and the current one becomes the older. A row that is removed (the call was bound
 * again, its member left, it was evicted) is marked dead and skipped; its space comes back with
 * its generation.
 */

import { fnv1a } from '@sipedge/core';

/** Member index of a dead row. */
const DEAD = 0xffffffff;

function grown<T extends Uint32Array | Int32Array | Float64Array | Uint16Array>(
  a: T,
  size: number,
): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}

class Generation {
  /** Rows appended; rows before `head` are all dead. */
  rows = 0;
  head = 0;
  alive = 0;
  hash = new Int32Array(64);
  keyAt = new Uint32Array(64);
  keyLen = new Uint32Array(64);
  member = new Uint32Array(64);
  seen = new Float64Array(64);
  at = new Float64Array(64);
  arena = new Uint16Array(2048);
  arenaUsed = 0;
  /** Row + 1 per slot, 0 when empty; at least twice as many slots as rows. */
  index = new Int32Array(128);

  reset(): void {
    this.rows = 0;
    this.head = 0;
    this.alive = 0;
    this.arenaUsed = 0;
    this.index.fill(0);
  }

  key(row: number): string {
    const at = this.keyAt[row]!;
    const end = at + this.keyLen[row]!;
    let s = '';
    // in pieces: apply takes at most so many arguments
    for (let i = at; i < end; i += 4096) {
      const piece = this.arena.subarray(i, Math.min(end, i + 4096));
      s += String.fromCharCode.apply(null, piece as unknown as number[]);
    }
    return s;
  }

  /** The live row of a call-id, or -1. */
  find(callId: string, h: number): number {
    const index = this.index;
    const mask = index.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const entry = index[slot]!;
      if (entry === 0) return -1;
      const row = entry - 1;
      if (this.hash[row] === h && this.member[row] !== DEAD && this.#keyIs(row, callId)) return row;
    }
  }

  #keyIs(row: number, callId: string): boolean {
    const len = this.keyLen[row]!;
    if (len !== callId.length) return false;
    const arena = this.arena;
    const at = this.keyAt[row]!;
    for (let i = 0; i < len; i++) if (arena[at + i] !== callId.charCodeAt(i)) return false;
    return true;
  }

  append(callId: string, h: number, member: number, lastSeen: number, deletedAt: number): void {
    if (this.rows === this.hash.length) this.#growRows();
    if ((this.rows + 1) * 2 > this.index.length) this.#growIndex();
    const len = callId.length;
    if (this.arenaUsed + len > this.arena.length) {
      let size = this.arena.length * 2;
      while (this.arenaUsed + len > size) size *= 2;
      this.arena = grown(this.arena, size);
    }
    const row = this.rows++;
    const at = this.arenaUsed;
    for (let i = 0; i < len; i++) this.arena[at + i] = callId.charCodeAt(i);
    this.arenaUsed += len;
    this.hash[row] = h;
    this.keyAt[row] = at;
    this.keyLen[row] = len;
    this.member[row] = member;
    this.seen[row] = lastSeen;
    this.at[row] = deletedAt;
    this.alive++;
    this.#insert(row, h);
  }

  kill(row: number): void {
    this.member[row] = DEAD;
    this.alive--;
    while (this.head < this.rows && this.member[this.head] === DEAD) this.head++;
  }

  #insert(row: number, h: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let slot = h & mask;
    while (index[slot] !== 0) slot = (slot + 1) & mask;
    index[slot] = row + 1;
  }

  #growRows(): void {
    const size = this.hash.length * 2;
    this.hash = grown(this.hash, size);
    this.keyAt = grown(this.keyAt, size);
    this.keyLen = grown(this.keyLen, size);
    this.member = grown(this.member, size);
    this.seen = grown(this.seen, size);
    this.at = grown(this.at, size);
  }

  #growIndex(): void {
    this.index = new Int32Array(this.index.length * 2);
    // dead rows stay out of the new index: nothing will look for them
    for (let row = this.head; row < this.rows; row++) {
      if (this.member[row] !== DEAD) this.#insert(row, this.hash[row]!);
    }
  }
}

/** A deleted call as the call table reports it. */
export interface DeletedCall {
  readonly callId: string;
  readonly member: string;
  readonly lastSeen: number;
  readonly deletedAt: number;
}

export class DeletedCalls {
  #older = new Generation();
  #current = new Generation();
  /** Member names by index; a name keeps its index for the life of the table. */
  readonly #names: string[] = [];
  readonly #ids = new Map<string, number>();

  get size(): number {
    return this.#older.alive + this.#current.alive;
  }

  /** The member a deleted call was bound to. */
  member(callId: string): string | undefined {
    const h = fnv1a(callId);
    let row = this.#current.find(callId, h);
    if (row >= 0) return this.#names[this.#current.member[row]!];
    row = this.#older.find(callId, h);
    return row >= 0 ? this.#names[this.#older.member[row]!] : undefined;
  }

  /** When a deleted call was last used, if it is here. */
  lastSeen(callId: string): number | undefined {
    const h = fnv1a(callId);
    let row = this.#current.find(callId, h);
    if (row >= 0) return this.#current.seen[row];
    row = this.#older.find(callId, h);
    return row >= 0 ? this.#older.seen[row] : undefined;
  }

  /** Adds a deleted call; the caller makes sure it is not here already. */
  add(callId: string, member: string, lastSeen: number, deletedAt: number): void {
    let id = this.#ids.get(member);
    if (id === undefined) {
      id = this.#names.length;
      this.#names.push(member);
      this.#ids.set(member, id);
    }
    this.#current.append(callId, fnv1a(callId), id, lastSeen, deletedAt);
  }

  /** Forgets a deleted call (it was bound again); whether it was here. */
  remove(callId: string): boolean {
    const h = fnv1a(callId);
    let row = this.#current.find(callId, h);
    if (row >= 0) {
      this.#current.kill(row);
      return true;
    }
    row = this.#older.find(callId, h);
    if (row < 0) return false;
    this.#older.kill(row);
    return true;
  }

  /**
   * Removes the oldest deleted calls while `expired(deletedAt)` says so, stopping at the first
   * that is not (rows are in deletion order), and reports each removed one.
   */
  expire(
    expired: (deletedAt: number) => boolean,
    removed: (callId: string, member: string) => void,
  ): number {
    let n = 0;
    for (;;) {
      const g = this.#older;
      while (g.head < g.rows) {
        const row = g.head;
        if (!expired(g.at[row]!)) return n;
        const callId = g.key(row);
        const member = this.#names[g.member[row]!]!;
        g.kill(row);
        n++;
        removed(callId, member);
      }
      if (this.#current.rows === 0) return n;
      this.#rotate();
    }
  }

  /** Removes the oldest deleted call and returns it, if there is one. */
  evictOldest(): { callId: string; member: string } | undefined {
    for (;;) {
      const g = this.#older;
      if (g.head < g.rows) {
        const row = g.head;
        const evicted = { callId: g.key(row), member: this.#names[g.member[row]!]! };
        g.kill(row);
        return evicted;
      }
      if (this.#current.rows === 0) return undefined;
      this.#rotate();
    }
  }

  /** Removes every deleted call of a member, reporting each. */
  removeMember(member: string, removed: (callId: string) => void): number {
    const id = this.#ids.get(member);
    if (id === undefined) return 0;
    let n = 0;
    for (const g of [this.#older, this.#current]) {
      for (let row = g.head; row < g.rows; row++) {
        if (g.member[row] !== id) continue;
        const callId = g.key(row);
        g.kill(row);
        n++;
        removed(callId);
      }
    }
    return n;
  }

  /** Every deleted call, oldest deletion first. */
  *entries(): IterableIterator<DeletedCall> {
    for (const g of [this.#older, this.#current]) {
      for (let row = g.head; row < g.rows; row++) {
        const id = g.member[row]!;
        if (id === DEAD) continue;
        yield {
          callId: g.key(row),
          member: this.#names[id]!,
          lastSeen: g.seen[row]!,
          deletedAt: g.at[row]!,
        };
      }
    }
  }

  /** The older generation is empty: it becomes the current one, the current one the older. */
  #rotate(): void {
    const emptied = this.#older;
    emptied.reset();
    this.#older = this.#current;
    this.#current = emptied;
  }
}
