import { SipedgeError } from '@sipedge/core';

/**
 * Errors of @sipedge/rtpp: `SipedgeError`s with `RTPP_…` codes; `cause` carries the underlying
 * error where there is one.
 */
export class RtppError extends SipedgeError {}

/** The peer sent something that is not the protocol (garbage reply, oversize frame, …). */
export class RtppProtocolError extends RtppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RTPP_PROTOCOL', message, options);
  }
}

/** No reply within the total time budget, after every retransmit. */
export class RtppTimeoutError extends RtppError {
  readonly attempts: number;
  constructor(message: string, attempts: number) {
    super('RTPP_TIMEOUT', message);
    this.attempts = attempts;
  }
}

/** The socket could not be opened, or broke and could not be re-opened. */
export class RtppSocketError extends RtppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RTPP_SOCKET', message, options);
  }
}

/** The client or server was closed while the operation was pending. */
export class RtppClosedError extends RtppError {
  constructor(message = 'closed') {
    super('RTPP_CLOSED', message);
  }
}

/** A bad argument from the caller (a command that cannot be serialised, a bad socket spec). */
export class RtppArgumentError extends RtppError {
  constructor(message: string) {
    super('RTPP_ARGUMENT', message);
  }
}
