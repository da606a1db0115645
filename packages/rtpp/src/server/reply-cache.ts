/**
 * The UDP retransmit cache (digest §1.3): replies by sender and cookie, so a retransmitted
 * command is answered again without running it twice.
 *
 * Two generations, as sippy's rtp_cluster does: new entries go into the current map; every
 * `ttlMs` (checked lazily, no timers) the current map becomes the previous one and the old
 * previous one is dropped whole. An entry therefore lives between `ttlMs` and `2 × ttlMs`. When
 * the current map reaches half of `maxEntries` it rotates early, so at most `maxEntries` replies
 * are held. Dropping a generation at once keeps the per-command cost to one or two map
 * operations, with no expiry walk.
 */

/** A lookup result: a reply, `null` while the first copy is being handled, undefined on a miss. */
export type CachedReply = string | null | undefined;

export class ReplyCache {
  readonly #ttlMs: number;
  readonly #half: number;
  #current = new Map<string, string | null>();
  #previous = new Map<string, string | null>();
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

  lookup(key: string, now: number): CachedReply {
    if (now >= this.#rotateAt) this.#rotate(now);
    const v = this.#current.get(key);
    return v !== undefined ? v : this.#previous.get(key);
  }

  /** Marks a command as being handled; returns a token for `complete`. */
  begin(key: string, now: number): number {
    this.#current.set(key, null);
    if (this.#current.size >= this.#half) this.#rotate(now, true);
    return this.#generation;
  }

  complete(key: string, reply: string, token: number): void {
    if (token !== this.#generation) this.#previous.delete(key);
    this.#current.set(key, reply);
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
