/** The errors of the federation: one family, with stable codes. */
import { SipedgeError } from '@sipedge/core';

export type FederationErrorCode =
  /** The presence store did not answer in time or refused a command. */
  | 'FED_STORE'
  /** The store answered something this package did not write. */
  | 'FED_STORE_REPLY';

export class FederationError extends SipedgeError {
  declare readonly code: FederationErrorCode;

  constructor(code: FederationErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
