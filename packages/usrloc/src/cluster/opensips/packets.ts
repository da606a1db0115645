/**
 * What OpenSIPS 3.x usrloc puts in its `usrloc-contact-repl` packets and sync chunks, layout
 * version 5 (docs/protocols/usrloc-replication.md §8). Field for field as on the wire, so a
 * packet re-encodes byte for byte; strings are latin1 (one char per byte, as sipedge's SIP
 * stack reads messages), and an empty string is what OpenSIPS writes for both "" and null.
 */

/** The usrloc layout version these types describe (`UL_BIN_VERSION` in OpenSIPS 3.2–3.6). */
export const UL_BIN_VERSION = 5;

/** Packet types of `usrloc-contact-repl`. */
export const UlPacketType = {
  AOR_INSERT: 1,
  AOR_DELETE: 2,
  CONTACT_INSERT: 3,
  CONTACT_UPDATE: 4,
  CONTACT_DELETE: 5,
} as const;

/** How the receiver finds the contact a packet names (OpenSIPS `ct_match.mode`). */
export const ContactMatchMode = {
  /** No rule given: the receiver's own `matching_mode` applies. */
  NONE: -1,
  CONTACT_ONLY: 0,
  CONTACT_CALLID: 1,
  /** Match on the listed Contact URI params; the only mode followed by a list. */
  PARAMS: 2,
} as const;

export interface ContactMatch {
  /** An i32; modes other than PARAMS carry nothing more. */
  readonly mode: number;
  /** The param names, written only when `mode` is PARAMS (empty otherwise). */
  readonly params: readonly string[];
}

/** `qvalue_t` meaning "the UA gave no q". */
export const Q_UNSPECIFIED = -1;
/** `methods` meaning "every method" (OpenSIPS `ALL_METHODS`). */
export const ALL_METHODS = 0xffffffff;

/** An AoR (OpenSIPS `urecord`): AoR insert packets and AoR sync chunks. */
export interface UlRecord {
  /** The usrloc table (`location`). */
  readonly domain: string;
  /** The AoR as OpenSIPS keys it: `alice` with `use_domain` 0, `alice@example.com` with 1. */
  readonly aor: string;
  /** The sender's record label (u32): the middle bits of its contact ids. */
  readonly label: number;
  /** The contact label the sender will hand out next (u32, 14 bits used). */
  readonly nextContactLabel: number;
  /** The AoR's key-value store as OpenSIPS serialised it (a JSON object), or "" when empty. */
  readonly kvStore: string;
}

/** One binding (OpenSIPS `ucontact`): contact insert/update packets and contact sync chunks. */
export interface UlContact {
  readonly domain: string;
  readonly aor: string;
  /** The Contact URI. */
  readonly contact: string;
  /**
   * The sender's 64-bit contact id (`aorhash << 46 | rlabel << 14 | clabel`), raw native
   * bytes on the wire. Each node repacks it with its own labels on receipt.
   */
  readonly contactId: bigint;
  readonly callId: string;
  readonly userAgent: string;
  /** The Path header values as one string, comma-separated, as OpenSIPS stored them. */
  readonly path: string;
  /** Opaque attributes set by the script. */
  readonly attr: string;
  /** Source of the REGISTER as a SIP URI when it differs from the Contact, or "". */
  readonly received: string;
  /** `+sip.instance` as in the Contact param, angle brackets included. */
  readonly instance: string;
  /** Absolute expiry, Unix seconds (a native `time_t`); 0 = permanent. */
  readonly expires: number;
  /** q × 1000 (a native `qvalue_t`), or `Q_UNSPECIFIED`. */
  readonly q: number;
  /** The receiving listener's name (`udp:127.0.0.51:5060`, or its tag), or "". */
  readonly socket: string;
  readonly cseq: number;
  /** usrloc's own flags (u32: FL_MEM 1, FL_EXTRA_HOP 2, FL_PN_ON 4). */
  readonly flags: number;
  /** The script's branch flags by name, as OpenSIPS lists them (`NAT` …), or "". */
  readonly cflags: string;
  /** Bitmask of supported methods (u32; `ALL_METHODS` when the UA said nothing). */
  readonly methods: number;
  /** Unix seconds of the last change (a native `time_t`). */
  readonly lastModified: number;
  /** The contact's key-value store (JSON object; the sharing tag is its `_st`), or "". */
  readonly kvStore: string;
  /** The matching rule sent with the contact. */
  readonly match: ContactMatch;
}

/** A contact delete: only what names the binding. */
export interface UlContactRef {
  readonly domain: string;
  readonly aor: string;
  readonly contact: string;
  readonly callId: string;
  readonly cseq: number;
  readonly match: ContactMatch;
}

/** One live packet of `usrloc-contact-repl`, version 5. */
export type UlPacket =
  | { readonly kind: 'aor_insert'; readonly record: UlRecord }
  | { readonly kind: 'aor_delete'; readonly domain: string; readonly aor: string }
  | { readonly kind: 'contact_insert'; readonly contact: UlContact }
  | { readonly kind: 'contact_update'; readonly contact: UlContact }
  | { readonly kind: 'contact_delete'; readonly ref: UlContactRef };

/**
 * One usrloc chunk of a SYNC packet: an `int` saying which (0 AoR, 1 contact), then the AoR
 * as in an AoR insert or the contact as in a contact insert. A donor sends each AoR followed
 * by its contacts.
 */
export type UlSyncChunk =
  | { readonly kind: 'aor'; readonly record: UlRecord }
  | { readonly kind: 'contact'; readonly contact: UlContact };
