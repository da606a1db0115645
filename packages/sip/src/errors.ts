import { SipedgeError } from '@sipedge/core';

/** Base class of every error this package throws: a `SipedgeError` with a `SIP_…` code. */
export class SipError extends SipedgeError {}

/** Why a message, URI or header was refused: stable strings, a bounded set, safe as metric names. */
export const PARSE_REASONS = [
  'empty',
  'start-line',
  'version',
  'method',
  'status-code',
  'request-uri',
  'header-name',
  'header-syntax',
  'header-missing',
  'header-repeated',
  'content-length',
  'too-large',
  'truncated',
  'cseq',
  'cseq-method',
  'max-forwards',
  'via',
  'name-addr',
  'uri',
  'scalar-range',
  'date',
] as const;

/** One of `PARSE_REASONS`. */
export type ParseReason = (typeof PARSE_REASONS)[number];

/**
 * A message, URI or header that cannot be accepted. `reason` names the rule that failed;
 * `status` is what a server answers (400, or 505 for an unsupported version, 413/513 for size,
 * 416 for a URI of a scheme that cannot be routed).
 */
export class SipParseError extends SipError {
  readonly reason: ParseReason;
  readonly status: number;
  constructor(reason: ParseReason, detail: string, status = 400) {
    super(`SIP_PARSE_${reason.toUpperCase().replace(/-/g, '_')}`, `${reason}: ${detail}`);
    this.reason = reason;
    this.status = status;
  }
  /** A reason phrase for the error response, e.g. `Bad Request (cseq-method)`. */
  get reasonPhrase(): string {
    if (this.status === 505) return 'Version Not Supported';
    if (this.status === 513) return 'Message Too Large';
    if (this.status === 416) return 'Unsupported URI Scheme';
    return `Bad Request (${this.reason})`;
  }
}

/** A transport could not deliver or accept a message. */
export class SipTransportError extends SipError {}
