import { SipedgeError } from '@sipedge/core';

/**
 * Base error of @sipedge/usrloc: a `SipedgeError` with a `USRLOC_…` code (`USRLOC_CONFIG`,
 * `USRLOC_BAD_AOR`, `USRLOC_AOR_TOO_LONG`, `USRLOC_REPL_DECODE`).
 */
export class UsrlocError extends SipedgeError {}
