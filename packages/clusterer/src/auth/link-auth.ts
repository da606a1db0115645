import type { Clock } from '@sipedge/core';
import { ClustererConfigError } from '../errors.js';
import { decodeHello, encodeHello, helloSignedWith } from './hello.js';

/** Shortest secret accepted: 16 characters, as the MI token. */
export const MIN_SECRET_LENGTH = 16;

export interface LinkAuthOptions {
  /**
   * The shared secrets: the first signs my hellos, every one is accepted from peers. Rotation:
   * add the new secret second on every node, then move it first, then drop the old one.
   */
  secrets: readonly string[];
  /** How far a hello's timestamp may be from my clock, in ms (default 60 s). */
  windowMs?: number;
}

/** Why a hello was not taken (each is a refusal reason, counted as `refused_<reason>`). */
export type HelloRefusal = 'bad_hello' | 'bad_secret' | 'stale_hello' | 'replayed_hello';

export type HelloCheck =
  | { ok: true; src: number; dst: number; oldSecret: boolean }
  | { ok: false; reason: HelloRefusal };

/** Nonces remembered at most (legitimate hellos only: a forged one never gets this far). */
const MAX_NONCES = 65_536;

/**
 * Shared-secret authentication of BIN connections (sipedge only): signs the hello written first
 * on each connection I open, and checks the hellos of connections I accept: a MAC under one of
 * the secrets, a timestamp within the window, a nonce not seen within it (a captured hello
 * cannot be replayed on another connection), and my node id as its destination (nor can it be
 * replayed to another node).
 */
export class LinkAuth {
  readonly #secrets: readonly string[];
  readonly #windowMs: number;
  readonly #clock: Clock;
  /** Nonces of accepted hellos (hex) → when they may be forgotten. */
  readonly #seen = new Map<string, number>();

  constructor(options: LinkAuthOptions, clock: Clock) {
    if (options.secrets.length === 0) throw new ClustererConfigError('auth_secret is empty');
    for (const s of options.secrets) {
      if (s.length < MIN_SECRET_LENGTH)
        throw new ClustererConfigError(
          `auth_secret must be at least ${MIN_SECRET_LENGTH} characters`,
        );
    }
    this.#secrets = [...options.secrets];
    this.#windowMs = options.windowMs ?? 60_000;
    this.#clock = clock;
  }

  /** The hello for a connection from node `src` to the listener of node `dst`. */
  hello(src: number, dst: number): Buffer {
    return encodeHello(this.#secrets[0] as string, src, dst, this.#clock.now());
  }

  /** Check a hello received on a connection to my listener. */
  check(packet: Buffer, myNodeId: number): HelloCheck {
    const h = decodeHello(packet);
    if (h === undefined || h.dst !== myNodeId) return { ok: false, reason: 'bad_hello' };
    const index = this.#secrets.findIndex((s) => helloSignedWith(h, s));
    if (index < 0) return { ok: false, reason: 'bad_secret' };
    const now = this.#clock.now();
    if (Math.abs(h.timestamp * 1000 - now) > this.#windowMs)
      return { ok: false, reason: 'stale_hello' };
    const key = h.nonce.toString('hex');
    this.#forget(now);
    if (this.#seen.has(key)) return { ok: false, reason: 'replayed_hello' };
    // kept past the far edge of the window the timestamp allows
    this.#seen.set(key, now + 2 * this.#windowMs + 1000);
    return { ok: true, src: h.src, dst: h.dst, oldSecret: index > 0 };
  }

  #forget(now: number): void {
    for (const [k, until] of this.#seen) {
      // insertion order is expiry order (the same span is added to a clock that only advances)
      if (until > now && this.#seen.size < MAX_NONCES) break;
      this.#seen.delete(k);
    }
  }
}
