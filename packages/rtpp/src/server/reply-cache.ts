/**
 * The UDP retransmit cache (digest §1.3): replies by sender and cookie, so a retransmitted
 * command is answered again without running it twice.
 *
 * Two generations, as sippy's rtp_cluster does: new entries go into the current map; every
 * `ttlMs` (checked lazily, no timers) the current map becomes the previous one and the old
 * previous one is dropped whole. An entry therefore lives between `ttlMs` and `2 × ttlMs`. When
 * the current map reaches half of `maxEntries` it rotates early, so at most `maxEntries` replies
 * are held.
 *
 * Cheap for the garbage collector, which matters because every entry outlives a young-generation
 * collection: the map key is a 30-bit hash of (address, port, cookie) — a small integer, no key
 * string — and the value is the reply text itself, which starts with the cookie and is checked
 * against it, so a hash collision needs the same cookie from two senders to matter. While the
 * command is being handled the value is the cookie alone.
 */

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

export class ReplyCache {
  readonly #ttlMs: number;
  readonly #half: number;
  #current = new Map<number, string>();
  #previous = new Map<number, string>();
  #rotateAt: number;
  #generation = 0;

  constructor(ttlMs: number, maxEntries: number, now: number) {
    this.#ttlMs = ttlMs;
    this.#half = Math.max(1, Math.floor(maxEntries / 2));
    this.#rotateAt = now + ttlMs;
  }

  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  lookup(hash: number, cookie: string, now: number): CachedReply {
    if (now >= this.#rotateAt) this.#rotate(now);
    const v = this.#current.get(hash);
    if (v !== undefined) return matches(v, cookie);
    const p = this.#previous.get(hash);
    return p === undefined ? undefined : matches(p, cookie);
  }

  /** Marks a command as being handled; returns a token for `complete`. */
  begin(hash: number, cookie: string, now: number): number {
    this.#current.set(hash, cookie);
    if (this.#current.size >= this.#half) this.#rotate(now, true);
    return this.#generation;
  }

  /** Stores the reply text, which must be `<cookie> <body>`. */
  complete(hash: number, reply: string, token: number): void {
    if (token !== this.#generation) this.#previous.delete(hash);
    this.#current.set(hash, reply);
    if (this.#current.size >= this.#half) this.#rotate(Number.NEGATIVE_INFINITY, true);
  }

  clear(): void {
    this.#current = new Map();
    this.#previous = new Map();
  }

  #rotate(now: number, full = false): void {
    this.#generation++;
    if (!full && now >= this.#rotateAt + this.#ttlMs) {
      // idle for two periods: everything has expired
      this.#previous = new Map();
    } else {
      this.#previous = this.#current;
    }
    this.#current = new Map();
    if (now !== Number.NEGATIVE_INFINITY) this.#rotateAt = now + this.#ttlMs;
  }
}
