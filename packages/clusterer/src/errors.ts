import { SipedgeError } from '@sipedge/core';

/**
 * Errors of @sipedge/clusterer: `SipedgeError`s with `CLUSTERER_…` codes; `cause` carries the
 * underlying error where there is one.
 */
export class ClustererError extends SipedgeError {}

/** Why a BIN packet or stream was rejected. Each reason is also a drop counter name. */
export type BinDecodeReason =
  | 'truncated'
  | 'bad_marker'
  | 'too_short'
  | 'too_long'
  | 'length_mismatch'
  | 'bad_capability'
  | 'unknown_type'
  | 'bad_count'
  | 'bad_field'
  | 'trailing_bytes';

/** A BIN packet that is not well formed. Decoders throw only this. */
export class BinDecodeError extends ClustererError {
  readonly reason: BinDecodeReason;
  constructor(reason: BinDecodeReason, message: string) {
    super(`CLUSTERER_BIN_${reason.toUpperCase()}`, message);
    this.reason = reason;
  }
}

/** Configuration that cannot be used (node info strings, DB rows, options). */
export class ClustererConfigError extends ClustererError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CLUSTERER_CONFIG', message, options);
  }
}
