/** A REGISTER refused: the status, reason and `P-Registrar-Error` text of its reply. */

export interface Reject {
  status: number;
  reason: string;
  error: string;
  headers?: [string, string][];
}

export class Rejected extends Error {
  constructor(readonly reply: Reject) {
    super(reply.error);
  }
}

export function reject(
  status: number,
  reason: string,
  error: string,
  headers?: [string, string][],
): never {
  throw new Rejected(
    headers === undefined ? { status, reason, error } : { status, reason, error, headers },
  );
}

export const INTERNAL: Reject = {
  status: 500,
  reason: 'Server Internal Error',
  error: 'Internal error',
};
export const STORE_FAILED: Reject = {
  status: 500,
  reason: 'Server Internal Error',
  error: 'Bindings not saved',
};
