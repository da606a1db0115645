/**
 * The UDP retransmit cache (docs/protocols/rtpproxy.md §1.3): replies by sender and cookie, so a
 * retransmitted command is answered again without running it twice.
 *
 * Two generations, as sippy's rtp_cluster does: new entries go into the current one; every
 * `ttlMs` (checked lazily, no timers) the current generation becomes the previous one and the
 * old previous one is dropped whole. An entry therefore lives between `ttlMs` and `2 × ttlMs`.
 * When the current generation reaches half of `maxEntries` it rotates early, so at most
 * `maxEntries` replies are held (and commands in flight apart from them, at most half as many).
 *
 * Every entry outlives a young-generation collection, so a generation keeps nothing on the
 * JavaScript heap: the reply bytes go into an arena, and an open-addressing index over the
 * 30-bit hash of (address, port, cookie) finds them. The reply starts with the cookie and is
 * checked against it, so a hash collision needs the same cookie from two senders to matter.
 * While a command is being handled it is in a small map of commands in flight (hash →
 * cookie). A new command (the usual case) is a miss found at the first empty index slot.
 */

import { ChurnMap, FNV1A_PRIME, fnv1a } from '@sipedge/core';

/** A lookup result: a reply, `null` while the first copy is being handled, undefined on a miss. */
export type CachedReply = string | null | undefined;

/** FNV-1a over the address, the port and the cookie, cut to 30 bits. */
export function senderCookieHash(address: string, port: number, cookie: string): number {
  let h = fnv1a(address);
  h = Math.imul(h ^ (port & 0xff), FNV1A_PRIME);
  h = Math.imul(h ^ (port >>> 8), FNV1A_PRIME);
  return fnv1a(cookie, h) & 0x3fffffff; // 30 bits: a small integer, never a heap number
}

/** One generation: rows of (hash, arena offset, length), an index, and the arena. */
class Generation {
  rows = 0;
  hash: Int32Array;
  at: Uint32Array;
  len: Uint32Array;
  /** Row + 1 per slot, 0 when empty; at least twice as many slots as rows. */
  index: Int32Array;
  arena: Buffer;
  used = 0;

  constructor(rows: number) {
    this.hash = new Int32Array(rows);
    this.at = new Uint32Array(rows);
    this.len = new Uint32Array(rows);
    let slots = 16;
    while (slots < rows * 2) slots *= 2;
    this.index = new Int32Array(slots);
    this.arena = Buffer.allocUnsafeSlow(rows * 48);
  }

  reset(): void {
    this.rows = 0;
    this.used = 0;
    this.index.fill(0);
  }

  /** The row holding the reply for `hash`, or -1. */
  find(hash: number): number {
    const index = this.index;
    const mask = index.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const e = index[slot]!;
      if (e === 0) return -1;
      if (this.hash[e - 1] === hash) return e - 1;
    }
  }

  /** What the row holds for `cookie`: its reply, `null` for the bare cookie, undefined if another's. */
  match(row: number, cookie: string): CachedReply {
    const at = this.at[row]!;
    const len = this.len[row]!;
    const n = cookie.length;
    if (len < n) return undefined;
    const arena = this.arena;
    for (let i = 0; i < n; i++) if (arena[at + i] !== cookie.charCodeAt(i)) return undefined;
    if (len === n) return null;
    if (arena[at + n] !== 32) return undefined;
    return arena.toString('latin1', at, at + len);
  }

  /** Stores a reply (latin1 text or its bytes), replacing one held for the same hash. */
  put(hash: number, reply: string | Uint8Array, maxRows: number): void {
    const len = reply.length;
    if (this.used + len > this.arena.length) {
      let size = this.arena.length * 2;
      while (this.used + len > size) size *= 2;
      const arena = Buffer.allocUnsafeSlow(size);
      this.arena.copy(arena, 0, 0, this.used);
      this.arena = arena;
    }
    const at = this.used;
    if (typeof reply === 'string') this.arena.write(reply, at, len, 'latin1');
    else this.arena.set(reply, at);
    this.used += len;
    const index = this.index;
    const mask = index.length - 1;
    let slot = hash & mask;
    for (;;) {
      const e = index[slot]!;
      if (e === 0) break;
      if (this.hash[e - 1] === hash) {
        // the same sender and cookie (or a collision): the newer reply wins
        this.at[e - 1] = at;
        this.len[e - 1] = len;
        return;
      }
      slot = (slot + 1) & mask;
    }
    if (this.rows === this.hash.length) this.#grow(maxRows);
    const row = this.rows++;
    this.hash[row] = hash;
    this.at[row] = at;
    this.len[row] = len;
    if (this.index !== index) this.#insert(row);
    else index[slot] = row + 1;
  }

  #insert(row: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let slot = this.hash[row]! & mask;
    while (index[slot] !== 0) slot = (slot + 1) & mask;
    index[slot] = row + 1;
  }

  #grow(maxRows: number): void {
    const size = Math.max(this.hash.length + 1, Math.min(this.hash.length * 2, maxRows));
    const grown = <T extends Int32Array | Uint32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.hash = grown(this.hash);
    this.at = grown(this.at);
    this.len = grown(this.len);
    if (size * 2 > this.index.length) {
      let slots = this.index.length;
      while (slots < size * 2) slots *= 2;
      this.index = new Int32Array(slots);
      for (let row = 0; row < this.rows; row++) this.#insert(row);
    }
  }
}

export class ReplyCache {
  readonly #ttlMs: number;
  readonly #half: number;
  /** Commands being handled (hash → cookie): as many as are in flight, so a small, hot map. */
  readonly #inProgress = new ChurnMap<number, string>();
  #current: Generation;
  #previous: Generation;
  #rotateAt: number;
  #generation = 0;

  constructor(ttlMs: number, maxEntries: number, now: number) {
    this.#ttlMs = ttlMs;
    this.#half = Math.max(1, Math.floor(maxEntries / 2));
    this.#rotateAt = now + ttlMs;
    // generations start small and grow to `#half` rows as replies come
    const rows = Math.min(this.#half, 256);
    this.#current = new Generation(rows);
    this.#previous = new Generation(rows);
  }

  get size(): number {
    return this.#current.rows + this.#previous.rows + this.#inProgress.size;
  }

  lookup(hash: number, cookie: string, now: number): CachedReply {
    if (now >= this.#rotateAt) this.#rotate(now);
    const busy = this.#inProgress.get(hash);
    if (busy === cookie) return null;
    let row = this.#current.find(hash);
    if (row >= 0) return this.#current.match(row, cookie);
    row = this.#previous.find(hash);
    if (row >= 0) return this.#previous.match(row, cookie);
    return undefined;
  }

  /** Marks a command as being handled; returns a token for `complete`. */
  begin(hash: number, cookie: string, _now: number): number {
    // commands whose handler never answers must not pile up: as many in flight as a generation
    // holds replies is far more than any client keeps waiting
    if (this.#inProgress.size >= this.#half) this.#inProgress.clear();
    this.#inProgress.set(hash, cookie);
    return this.#generation;
  }

  /** Stores the reply, which must be `<cookie> <body>` (latin1 text, or its bytes). */
  complete(hash: number, reply: string | Uint8Array, _token: number): void {
    this.#inProgress.delete(hash);
    this.#current.put(hash, reply, this.#half);
    if (this.#current.rows >= this.#half) this.#rotate(Number.NEGATIVE_INFINITY, true);
  }

  clear(): void {
    this.#inProgress.clear();
    this.#current.reset();
    this.#previous.reset();
  }

  #rotate(now: number, full = false): void {
    this.#generation++;
    const recycled = this.#previous;
    recycled.reset();
    if (!full && now >= this.#rotateAt + this.#ttlMs) {
      // idle for two periods: everything has expired
      this.#current.reset();
    }
    this.#previous = this.#current;
    this.#current = recycled;
    if (now !== Number.NEGATIVE_INFINITY) this.#rotateAt = now + this.#ttlMs;
  }
}
