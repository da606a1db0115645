/** Requests and responses built from parts (header rows written as given). */

import { type HeaderField, makeField } from './header-field.js';
import { parseNameAddr, tagOf } from './headers.js';
import { EMPTY_BODY, SipMessage } from './message.js';

/** Builds a request from parts (header rows are written in the given order). */
export function createRequest(init: {
  method: string;
  uri: string;
  headers: ReadonlyArray<readonly [string, string]>;
  body?: Buffer;
}): SipMessage {
  const body = init.body ?? EMPTY_BODY;
  const headers = init.headers.map(([n, v]) => makeField(n, v));
  if (!headers.some((h) => h.key === 'content-length')) {
    headers.push(makeField('Content-Length', String(body.length)));
  }
  return new SipMessage({ startLine: `${init.method} ${init.uri} SIP/2.0`, headers, body });
}

/** Does a To value read, without a tag? (One that does not read is copied as it is.) */
function untagged(value: string): boolean {
  try {
    return tagOf(parseNameAddr(value)) === undefined;
  } catch {
    return false;
  }
}

/**
 * Builds a response to a request (RFC 3261 §8.2.6.2): Via rows, From, Call-ID and CSeq are
 * copied byte for byte; To gets `toTag` when given and not already tagged (a To that does not
 * parse is copied untouched, so that a malformed request can still be answered 400).
 */
export function createResponse(
  req: SipMessage,
  status: number,
  reason: string,
  options: {
    toTag?: string;
    headers?: ReadonlyArray<readonly [string, string]>;
    body?: Buffer;
  } = {},
): SipMessage {
  const headers: HeaderField[] = [];
  for (const h of req.headers) {
    if (h.key === 'via' || h.key === 'from' || h.key === 'call-id' || h.key === 'cseq')
      headers.push(h);
    else if (h.key === 'to') {
      if (options.toTag !== undefined && status > 100 && untagged(h.value)) {
        headers.push(makeField(h.name, `${h.value};tag=${options.toTag}`));
      } else headers.push(h);
    }
  }
  for (const [n, v] of options.headers ?? []) headers.push(makeField(n, v));
  const body = options.body ?? EMPTY_BODY;
  headers.push(makeField('Content-Length', String(body.length)));
  return new SipMessage({ startLine: `SIP/2.0 ${status} ${reason}`, headers, body });
}
