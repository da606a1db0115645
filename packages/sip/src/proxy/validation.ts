/** Request validation of a proxy (RFC 3261 §16.3). */
import { SipParseError } from '../errors.js';
import type { SipMessage } from '../message/message.js';
import { validateMessage } from '../message/validate-message.js';

export type Rejection = {
  readonly status: number;
  readonly reason: string;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
};

/**
 * Request validation of RFC 3261 §16.3: syntax (400), URI scheme (416), Max-Forwards (483),
 * Proxy-Require (420 with Unsupported). Returns undefined when the request may be forwarded.
 */
export function checkProxyRequest(
  req: SipMessage,
  supported: readonly string[] = [],
): Rejection | undefined {
  try {
    validateMessage(req);
  } catch (e) {
    if (e instanceof SipParseError) return { status: e.status, reason: e.reasonPhrase };
    throw e;
  }
  const scheme = req.requestUri.slice(0, req.requestUri.indexOf(':')).toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') {
    return { status: 416, reason: 'Unsupported URI Scheme' };
  }
  const mf = req.maxForwards();
  if (mf === 0 && req.method !== 'ACK') return { status: 483, reason: 'Too Many Hops' };
  const unsupported = req
    .values('proxy-require')
    .filter((o) => o.length > 0 && !supported.includes(o.toLowerCase()));
  if (unsupported.length > 0) {
    return {
      status: 420,
      reason: 'Bad Extension',
      headers: [['Unsupported', unsupported.join(', ')]],
    };
  }
  return undefined;
}
