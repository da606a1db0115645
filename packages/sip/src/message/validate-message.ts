/** The semantic checks a server makes on a parsed message before processing it. */
import { SipParseError } from '../errors.js';
import type { SipMessage } from './message.js';
import { parseUri } from './uri.js';

/** Header rows that may appear once only (RFC 3261 §7.3.1: not comma-separated lists). */
const SINGLE = ['to', 'from', 'call-id', 'cseq', 'max-forwards', 'content-length', 'content-type'];

/**
 * The checks a server makes before processing (RFC 3261 §8.2, §16.3, RFC 4475 §3.1.2, §3.3):
 * mandatory headers present and parseable, single-valued headers not repeated, CSeq method equal
 * to the request method, scalar fields in range, Request-URI well formed. Throws SipParseError.
 */
export function validateMessage(msg: SipMessage): void {
  for (const key of ['to', 'from', 'call-id', 'cseq', 'via']) {
    if (!msg.has(key)) throw new SipParseError('header-missing', `no ${key} header`);
  }
  for (const key of SINGLE) {
    if (msg.rows(key).length > 1)
      throw new SipParseError('header-repeated', `${key} appears more than once`);
  }
  if (msg.callId().length === 0) throw new SipParseError('header-syntax', 'empty Call-ID');
  const vias = msg.vias();
  if (vias.length === 0) throw new SipParseError('via', 'empty Via');
  msg.from();
  msg.to();
  const cseq = msg.cseq();
  msg.maxForwards();
  msg.expires();
  msg.contentLength();
  msg.contacts();
  msg.routes();
  msg.recordRoutes();
  const date = msg.header('date');
  if (date !== undefined && !/ GMT$/.test(date)) {
    throw new SipParseError('date', 'Date must be in GMT (RFC 3261 §20.17)');
  }
  if (msg.isRequest) {
    if (cseq.method !== msg.method) {
      throw new SipParseError(
        'cseq-method',
        `CSeq method ${cseq.method} differs from ${msg.method}`,
      );
    }
    validateRequestUri(msg.requestUri);
  } else {
    const ra = msg.header('retry-after');
    if (ra !== undefined) {
      const m = /^([0-9]+)/.exec(ra);
      if (m === null || m[1]!.length > 10 || Number(m[1]) > 2 ** 32 - 1) {
        throw new SipParseError('scalar-range', 'Retry-After out of range');
      }
    }
  }
}

function validateRequestUri(raw: string): void {
  const u = parseUriForValidation(raw);
  if ((u.scheme === 'sip' || u.scheme === 'sips') && 'headers' in u && u.headers.length > 0) {
    throw new SipParseError(
      'request-uri',
      'headers are not allowed in a Request-URI (RFC 3261 §19.1.5)',
    );
  }
}

function parseUriForValidation(raw: string): ReturnType<typeof parseUri> {
  try {
    return parseUri(raw);
  } catch (e) {
    if (e instanceof SipParseError) throw new SipParseError('request-uri', e.message);
    throw e;
  }
}
