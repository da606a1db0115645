/**
 * The UDP retransmit cache (digest §1.3): replies by sender and cookie, so a retransmitted
 * command is answered again without running it twice.
 *
 * Two generations, as sippy's rtp_cluster does: new entries go into the current map; every
 * `ttlMs` (checked lazily, no timers) the current map becomes the previous one and the old
 * previous one is dropped whole. An entry therefore lives between `ttlMs` and `2 × ttlMs`. When
 * the current map reaches half of `maxEntries` it rotates early, so at most `maxEntries` replies
 * are held (and commands in flight apart from them, at most half as many).
 *
 * Cheap for the garbage collector, which matters because every entry outlives a young-generation
 * collection: the map key is a 30-bit hash of (address, port, cookie) — a small integer, no key
 * string — and the value is the reply text itself, which starts with the cookie and is checked
 * against it, so a hash collision needs the same cookie from two senders to matter. While the
 * command is being handled it is in a separate small map of commands in flight (hash →
 * cookie), and each generation has a bit filter over the hashes, so that a new command (the
 * usual case) is a miss found without touching the two large maps.
 */

import { ChurnMap } from '../churn-map.js';

/** A lookup result: a reply, `null` while the first copy is being handled, undefined on a miss. */
export type CachedReply = string | null | undefined;

/** FNV-1a over the address, the port and the cookie, cut to 30 bits. */
export function senderCookieHash(address: string, port: number, cookie: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (port & 0xff), 0x01000193);
  h = Math.imul(h ^ (port >>> 8), 0x01000193);
  for (let i = 0; i < cookie.length; i++) h = Math.imul(h ^ cookie.charCodeAt(i), 0x01000193);
  return h & 0x3fffffff; // 30 bits: a small integer, never a heap number
}

function matches(value: string, cookie: string): CachedReply {
  if (value === cookie) return null;
  const n = cookie.length;
  if (value.length > n && value.charCodeAt(n) === 32 && value.startsWith(cookie)) return value;
  return undefined;
}

/** Bits of the generation filters: 16 per entry a generation may hold, 2^10 to 2^20. */
function filterBits(maxEntries: number): number {
  let bits = 1 << 10;
  while (bits < maxEntries * 16 && bits < 1 << 20) bits <<= 1;
  return bits;
}

export class ReplyCache {
  readonly #ttlMs: number;
  readonly #half: number;
  /** Commands being handled (hash → cookie): as many as are in flight, so a small, hot map. */
  readonly #inProgress = new ChurnMap<number, string>();
  #current = new Map<number, string>();
  #previous = new Map<number, string>();
  /**
   * One bit per hash value (modulo the filter size) of each generation: a clear bit is a sure
   * miss, so the usual new command is looked up in neither large map.
   */
  #currentBits: Uint32Array;
  #previousBits: Uint32Array;
  readonly #mask: number;
  #rotateAt: number;
  #generation = 0;

  constructor(ttlMs: number, maxEntries: number, now: number) {
    this.#ttlMs = ttlMs;
    this.#half = Math.max(1, Math.floor(maxEntries / 2));
    this.#rotateAt = now + ttlMs;
    const bits = filterBits(this.#half);
    this.#mask = bits - 1;
    this.#currentBits = new Uint32Array(bits >>> 5);
    this.#previousBits = new Uint32Array(bits >>> 5);
  }

  get size(): number {
    return this.#current.size + this.#previous.size + this.#inProgress.size;
  }

  lookup(hash: number, cookie: string, now: number): CachedReply {
    if (now >= this.#rotateAt) this.#rotate(now);
    const busy = this.#inProgress.get(hash);
    if (busy === cookie) return null;
    const bit = hash & this.#mask;
    const word = bit >>> 5;
    const flag = 1 << (bit & 31);
    if ((this.#currentBits[word]! & flag) !== 0) {
      const v = this.#current.get(hash);
      if (v !== undefined) return matches(v, cookie);
    }
    if ((this.#previousBits[word]! & flag) !== 0) {
      const p = this.#previous.get(hash);
      if (p !== undefined) return matches(p, cookie);
    }
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

  /** Stores the reply text, which must be `<cookie> <body>`. */
  complete(hash: number, reply: string, _token: number): void {
    this.#inProgress.delete(hash);
    this.#current.set(hash, reply);
    const bit = hash & this.#mask;
    this.#currentBits[bit >>> 5]! |= 1 << (bit & 31);
    if (this.#current.size >= this.#half) this.#rotate(Number.NEGATIVE_INFINITY, true);
  }

  clear(): void {
    this.#inProgress.clear();
    this.#current = new Map();
    this.#previous = new Map();
    this.#currentBits.fill(0);
    this.#previousBits.fill(0);
  }

  #rotate(now: number, full = false): void {
    this.#generation++;
    const recycled = this.#previousBits;
    if (!full && now >= this.#rotateAt + this.#ttlMs) {
      // idle for two periods: everything has expired
      this.#previous = new Map();
      this.#currentBits.fill(0);
    } else {
      this.#previous = this.#current;
    }
    this.#previousBits = this.#currentBits;
    recycled.fill(0);
    this.#currentBits = recycled;
    this.#current = new Map();
    if (now !== Number.NEGATIVE_INFINITY) this.#rotateAt = now + this.#ttlMs;
  }
}
