import { SipedgeError } from '@sipedge/core';

/**
 * Errors of @sipedge/mi: `SipedgeError`s with `MI_…` codes; `cause` carries the underlying
 * error where there is one. The JSON-RPC engine answers `MiParamsError` and `MiCommandError`
 * with their own error replies (the codes and texts are in `rpc/codes.ts`); any other error
 * is answered as an internal error.
 */
export class MiError extends SipedgeError {}

/**
 * A command-level failure, answered as `{"code": status, "message": message}` with an
 * HTTP-like status (400, 404, 500 …), as OpenSIPS's `init_mi_error` does.
 */
export class MiCommandError extends MiError {
  readonly status: number;
  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super('MI_COMMAND', message, options);
    this.status = status;
  }
}

/** The parameters of a call do not fit the command (answered as -32602 with `data`). */
export class MiParamsError extends MiError {
  readonly data: string;
  constructor(data: string) {
    super('MI_PARAMS', data);
    this.data = data;
  }
}

/** A command definition is wrong (bad recipe, duplicate name …): a programming error. */
export class MiDefinitionError extends MiError {
  constructor(message: string) {
    super('MI_DEFINITION', message);
  }
}

/** The server answered a call with a JSON-RPC error (client side). */
export class MiRpcError extends MiError {
  readonly rpcCode: number;
  readonly data: unknown;
  constructor(rpcCode: number, message: string, data?: unknown) {
    super('MI_RPC', message);
    this.rpcCode = rpcCode;
    this.data = data;
  }
}

/** The client could not reach the server, or the connection broke (client side). */
export class MiTransportError extends MiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MI_TRANSPORT', message, options);
  }
}

/** No answer within the client's timeout. */
export class MiTimeoutError extends MiError {
  constructor(message: string) {
    super('MI_TIMEOUT', message);
  }
}

/** The client or server was closed while the operation was pending. */
export class MiClosedError extends MiError {
  constructor(message = 'closed') {
    super('MI_CLOSED', message);
  }
}
