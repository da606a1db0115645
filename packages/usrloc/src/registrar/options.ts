/** What a Registrar is given and what its lookup returns. */
import type { Logger } from '@sipedge/core';
import type { StatisticsRegistry } from '@sipedge/mi';
import type { AorOptions } from '../aor.js';

/** RFC 3327 handling of Path: strict = 420 without `Supported: path`; lazy = echo only with it; off = store, never echo. */
export type PathMode = 'strict' | 'lazy' | 'off';

export interface RegistrarOptions {
  /** Default lifetime when neither the contact nor the request says (s, default 3600). */
  readonly defaultExpires?: number;
  /** Shortest lifetime accepted; below it (and below 3600) → 423 with Min-Expires (default 60). */
  readonly minExpires?: number;
  /** Longest lifetime granted; longer requests are shortened (s, 0 = no limit; default 0). */
  readonly maxExpires?: number;
  /** Most bindings per AoR (0 = no limit, default 0). */
  readonly maxContacts?: number;
  /** What to do past maxContacts: reject with 503 (default) or evict the oldest bindings. */
  readonly maxContactsMode?: 'reject' | 'replace-oldest';
  /** Most Contact values in one REGISTER (default 32); more → 400 before any parsing. */
  readonly maxContactsPerRequest?: number;
  readonly pathMode?: PathMode;
  /** Same Call-ID and equal CSeq within this window of the last change = retransmission (ms, default 20,000; OpenSIPS cseq_delay). */
  readonly retransmissionWindowMs?: number;
  readonly aor?: AorOptions;
  /** Is the To domain ours? No → 404 (default: every domain is). */
  readonly isLocalDomain?: (host: string) => boolean;
  readonly stats?: StatisticsRegistry;
  /** pino-compatible logger (default: none). */
  readonly logger?: Logger;
}

/** Where the REGISTER came from, as the transport knows it. */
export interface RegisterContext {
  /** Source as a SIP URI (`sip:198.51.100.7:5060;transport=udp`), stored as `received`. */
  readonly received?: string;
  /** Logical name of the receiving socket (`udp:10.0.0.1:5060`). */
  readonly socket?: string;
  /** Owner sharing tag for the saved contacts. */
  readonly shtag?: string;
  /** Contact flags to store (NAT, remove-on-timeout …). */
  readonly flags?: number;
  /**
   * A Path value added by the edge that shares this process with the registrar (so requests
   * come back through the node that holds the flow). Stored as the first Path hop, never
   * echoed in the 200 and not subject to the `Supported: path` rule (the UA did not see it).
   */
  readonly ownPath?: string;
}

/** One target of a lookup, in q order. */
export interface Branch {
  readonly uri: string;
  /** Route set for the request: the stored Path values in order (the first carries `;lr`). */
  readonly route: readonly string[];
  /** Where to send: first Path hop, else received, else the contact URI. */
  readonly destination: string;
  readonly received: string | null;
  readonly q: number | null;
  readonly contactId: string;
  readonly instance: string | null;
  readonly regId: number | null;
  readonly socket: string | null;
  readonly flags: number;
}
