/**
 * The user-location model (docs/protocols/usrloc-replication.md §2): an AoR maps to contacts
 * (bindings). Records are immutable; an update replaces the record under the same stable id.
 */
export interface ContactRecord {
  /** Globally unique, stable id: storage key and (later) replication key. */
  readonly id: string;
  /** Canonical AoR (`user@host`, see `canonicalAor`). */
  readonly aor: string;
  /** Contact URI as the UA sent it (no angle brackets, no header params). */
  readonly uri: string;
  /** Contact header params other than expires and q, as written (`;+sip.instance="…";reg-id=1`). */
  readonly params: string;
  /** Source of the REGISTER as a SIP URI (`sip:198.51.100.7:5060;transport=udp`), or null. */
  readonly received: string | null;
  /** Path header values in order (first = hop nearest to this registrar), as written. */
  readonly path: readonly string[];
  /** Absolute expiry in ms since the epoch; 0 = permanent (ul_add with expires 0). */
  readonly expires: number;
  /** q value 0..1, or null when the UA gave none. */
  readonly q: number | null;
  readonly callId: string;
  readonly cseq: number;
  /** Branch/contact flags (opaque bits for the script: NAT, SIPPING, remove-on-timeout …). */
  readonly flags: number;
  readonly userAgent: string | null;
  /** Logical name of the socket the REGISTER came in on (`udp:10.0.0.1:5060`). */
  readonly socket: string | null;
  /** Contact `methods` param or Allow header, as written; null = all. */
  readonly methods: string | null;
  /** `+sip.instance` without quotes/brackets (RFC 5626), or null. */
  readonly instance: string | null;
  /** RFC 5626 reg-id, or null. */
  readonly regId: number | null;
  /** Time of the last change, ms since the epoch. */
  readonly lastModified: number;
  /** Node id of the node that made the last change (replication tie-break). */
  readonly nodeId: number;
  /** Owner sharing tag (clusterer sharing tag name), or null = owned by every node. */
  readonly shtag: string | null;
  /**
   * What an OpenSIPS node wrote for this binding that sipedge has no field for, kept so that
   * it goes back out as written (absent for bindings written on sipedge).
   */
  readonly opensips?: OpenSipsContactExtras;
}

/** The OpenSIPS-only part of a binding, JSON-safe (stored as one JSON column). */
export interface OpenSipsContactExtras {
  /** The usrloc table it came from (`location`). */
  readonly domain: string;
  /** The writing node's contact id, in decimal (a u64). */
  readonly contactId: string;
  readonly attr: string;
  /** usrloc's own flags (FL_*). */
  readonly flags: number;
  /** Branch flag names, space-separated, as OpenSIPS listed them. */
  readonly cflags: string;
  /** The methods bitmask as written. */
  readonly methods: number;
  /** Path as written (one comma-separated string). */
  readonly path: string;
  /** `+sip.instance` as written (angle brackets included). */
  readonly instance: string;
  /** The contact's key-value store as written (JSON object text, or ""). */
  readonly kvStore: string;
}

/** Contact flag: may be removed after `removeAfterLost` unanswered keep-alives (removeFlags). */
export const FLAG_REMOVE_ON_TIMEOUT = 1;
/** Contact flag: the contact is behind NAT (pinged by the NAT pinger). */
export const FLAG_NAT = 2;

/** Is the binding still valid at `now`? (`expires == 0` = permanent). */
export function isValid(c: ContactRecord, now: number): boolean {
  return c.expires === 0 || c.expires > now;
}

/** Seconds left (rounded up, at least 0) — what a 200 OK shows in `;expires=`. */
export function remainingSeconds(c: ContactRecord, now: number): number {
  if (c.expires === 0) return 0;
  return Math.max(0, Math.ceil((c.expires - now) / 1000));
}

/**
 * Makes globally unique, stable contact ids: `<node>-<random salt>-<counter>` in base 36. The
 * salt is random per generator, so a restarted node never reuses an id (the OpenSIPS rlabel
 * bug class, docs/protocols/usrloc-replication.md §5).
 */
export class ContactIdGenerator {
  readonly #prefix: string;
  #counter = 0;
  constructor(nodeId: number, salt?: string) {
    const s = salt ?? Math.floor(Math.random() * 2 ** 48).toString(36);
    this.#prefix = `${nodeId.toString(36)}-${s}-`;
  }
  next(): string {
    this.#counter++;
    return this.#prefix + this.#counter.toString(36);
  }
}

/**
 * A copy of `s` that does not share memory with the string it was cut from. V8 keeps a sliced
 * string's parent (here: the whole parsed SIP message) alive, which would cost hundreds of
 * bytes per stored contact.
 */
export function ownString(s: string): string {
  // shorter strings are copied when cut; a longer one, joined to a character, is flattened
  // into a new string of its own, and the slice keeps only that one alive (half the time of a
  // round trip through a Buffer, which shows in a registrar's profile)
  return s.length < 13 ? s : `${s} `.slice(0, -1);
}

/** `ownString` for nullable fields. */
export function ownOrNull(s: string | null): string | null {
  return s === null ? null : ownString(s);
}
