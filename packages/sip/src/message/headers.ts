import { SipParseError } from '../errors.js';
import { getParam, isTokenChar, type Param, parseParams, scanQuoted, skipWs } from './params.js';
import { parseUri, type Uri } from './uri.js';

/** A From/To/Contact/Route/Record-Route/Path value: optional display name, URI, header params. */
export interface NameAddr {
  /** Display name as written (quotes kept), or null. */
  readonly displayName: string | null;
  /** The URI text as written, without angle brackets. */
  readonly uri: string;
  /** True when the URI was enclosed in `<>`. */
  readonly bracketed: boolean;
  readonly params: readonly Param[];
}

/**
 * Parses one name-addr / addr-spec element (RFC 3261 §20.10, §25.1). In addr-spec form the
 * URI ends at the first `;` (those params belong to the header) and must not contain `?` or `,`
 * (§20: such URIs have to be in angle brackets).
 */
export function parseNameAddr(s: string): NameAddr {
  let i = skipWs(s, 0);
  let displayName: string | null = null;
  if (s.charCodeAt(i) === 34) {
    const end = scanQuoted(s, i, 'name-addr');
    displayName = s.slice(i, end);
    i = skipWs(s, end);
    if (s.charCodeAt(i) !== 60)
      throw new SipParseError('name-addr', 'quoted display name without <URI>');
  }
  const lt = s.indexOf('<', i);
  if (lt >= 0) {
    if (displayName === null && lt > i) {
      const dn = s.slice(i, lt).trim();
      for (let k = 0; k < dn.length; k++) {
        const c = dn.charCodeAt(k);
        if (!isTokenChar(c) && c !== 32 && c !== 9 && c !== 13 && c !== 10) {
          throw new SipParseError('name-addr', `display name '${dn}' must be quoted`);
        }
      }
      displayName = dn.length > 0 ? dn : null;
    } else if (lt !== i) {
      throw new SipParseError('name-addr', 'text between display name and <');
    }
    const gt = s.indexOf('>', lt);
    if (gt < 0) throw new SipParseError('name-addr', 'missing >');
    const uri = s.slice(lt + 1, gt);
    for (let k = 0; k < uri.length; k++) {
      const c = uri.charCodeAt(k);
      if (c === 32 || c === 9 || c === 13 || c === 10) {
        throw new SipParseError('name-addr', 'whitespace inside <URI>');
      }
    }
    if (uri.length === 0) throw new SipParseError('name-addr', 'empty <URI>');
    const { params } = parseParams(s, gt + 1, 'name-addr');
    return { displayName, uri, bracketed: true, params };
  }
  if (displayName !== null) throw new SipParseError('name-addr', 'missing <URI>');
  let end = i;
  while (end < s.length) {
    const c = s.charCodeAt(end);
    if (c === 59 || c === 32 || c === 9 || c === 13 || c === 10) break;
    if (c === 63 || c === 44) {
      throw new SipParseError('name-addr', 'URI with ? or , must be in angle brackets');
    }
    end++;
  }
  const uri = s.slice(i, end);
  if (uri.length === 0) throw new SipParseError('name-addr', 'empty URI');
  const { params } = parseParams(s, end, 'name-addr');
  return { displayName, uri, bracketed: false, params };
}

export function nameAddrUri(na: NameAddr): Uri {
  return parseUri(na.uri);
}

/** A parsed Via value (RFC 3261 §20.42, RFC 3581 rport). */
export interface Via {
  readonly protocol: string;
  readonly version: string;
  /** Upper-case transport: UDP, TCP, TLS, SCTP, WS, WSS or another token. */
  readonly transport: string;
  /** sent-by host as written (IPv6 with brackets). */
  readonly host: string;
  readonly port: number | null;
  readonly params: readonly Param[];
  readonly branch: string | undefined;
  readonly received: string | undefined;
  /** A number when filled in, `true` when present without value (a request for rport). */
  readonly rport: number | true | undefined;
}

function readToken(s: string, i: number): number {
  while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
  return i;
}

/** Parses one Via element: `SIP / 2.0 / UDP host[:port] *(;param)`, LWS allowed around `/`. */
export function parseVia(s: string): Via {
  const fail = (d: string): never => {
    throw new SipParseError('via', d);
  };
  let i = skipWs(s, 0);
  let j = readToken(s, i);
  const protocol = s.slice(i, j);
  i = skipWs(s, j);
  if (protocol.length === 0 || s[i] !== '/') fail('bad sent-protocol');
  i = skipWs(s, i + 1);
  j = readToken(s, i);
  const version = s.slice(i, j);
  i = skipWs(s, j);
  if (version.length === 0 || s[i] !== '/') fail('bad sent-protocol version');
  i = skipWs(s, i + 1);
  j = readToken(s, i);
  const transport = s.slice(i, j).toUpperCase();
  if (transport.length === 0) fail('missing transport');
  i = skipWs(s, j);
  let hostEnd: number;
  if (s.charCodeAt(i) === 91) {
    hostEnd = s.indexOf(']', i) + 1;
    if (hostEnd === 0) fail('unterminated IPv6 reference');
  } else {
    hostEnd = i;
    while (hostEnd < s.length) {
      const c = s.charCodeAt(hostEnd);
      if (
        (c >= 48 && c <= 57) ||
        (c >= 65 && c <= 90) ||
        (c >= 97 && c <= 122) ||
        c === 45 ||
        c === 46 ||
        c === 95
      ) {
        hostEnd++;
      } else break;
    }
  }
  const host = s.slice(i, hostEnd);
  if (host.length === 0) fail('missing sent-by host');
  i = skipWs(s, hostEnd);
  let port: number | null = null;
  if (s.charCodeAt(i) === 58) {
    i = skipWs(s, i + 1);
    let k = i;
    while (k < s.length && s.charCodeAt(k) >= 48 && s.charCodeAt(k) <= 57) k++;
    if (k === i || k - i > 5) fail('bad sent-by port');
    port = Number(s.slice(i, k));
    if (port > 65535) fail('sent-by port out of range');
    i = k;
  }
  let params: Param[];
  try {
    params = parseParams(s, i, 'via').params;
  } catch (e) {
    if (e instanceof SipParseError) throw e;
    throw e;
  }
  const rp = getParam(params, 'rport');
  let rport: number | true | undefined;
  if (rp === null) rport = true;
  else if (rp !== undefined) {
    if (!/^[0-9]{1,5}$/.test(rp) || Number(rp) > 65535) fail('bad rport');
    rport = Number(rp);
  }
  const branch = getParam(params, 'branch');
  const received = getParam(params, 'received');
  return {
    protocol,
    version,
    transport,
    host,
    port,
    params,
    branch: branch ?? undefined,
    received: received ?? undefined,
    rport,
  };
}

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

/** CSeq: 1*DIGIT LWS Method, the number below 2**31 (RFC 3261 §8.1.1.5). */
export function parseCSeq(s: string): CSeq {
  const m = /^\s*([0-9]+)\s+([^\s]+)\s*$/.exec(s);
  if (m === null) throw new SipParseError('cseq', `bad CSeq '${s.slice(0, 40)}'`);
  const seq = Number(m[1]);
  if (m[1]!.length > 10 || seq >= 2 ** 31)
    throw new SipParseError('scalar-range', 'CSeq number too large');
  const method = m[2]!;
  for (let i = 0; i < method.length; i++) {
    if (!isTokenChar(method.charCodeAt(i))) throw new SipParseError('cseq', 'bad CSeq method');
  }
  return { seq, method };
}

/** A delta-seconds / small integer header (Expires, Min-Expires, Max-Forwards, Content-Length). */
export function parseUint(
  s: string,
  max: number,
  reason: 'scalar-range' | 'max-forwards' | 'content-length',
): number {
  const t = s.trim();
  if (!/^[0-9]{1,10}$/.test(t)) {
    throw new SipParseError(
      reason === 'scalar-range' ? 'scalar-range' : reason,
      `not a number: '${t}'`,
    );
  }
  const n = Number(t);
  if (n > max)
    throw new SipParseError(
      reason === 'content-length' ? 'content-length' : 'scalar-range',
      `${t} is larger than ${max}`,
    );
  return n;
}

/** A Contact element; `star` for `Contact: *`. */
export interface Contact extends NameAddr {
  readonly star: boolean;
  readonly expires: number | undefined;
  readonly q: number | undefined;
  /** `+sip.instance` value without its quotes and angle brackets, e.g. `urn:uuid:…`. */
  readonly instance: string | undefined;
  readonly regId: number | undefined;
}

/** A q value as RFC 3261 §25.1 writes it: 0 to 1 with at most three decimals. */
export function isQValue(s: string): boolean {
  return /^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/.test(s);
}

/** A `+sip.instance` value without its quotes and angle brackets (RFC 5626 §4.1). */
export function unquoteInstance(value: string): string {
  let v = value;
  if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
  if (v.startsWith('<') && v.endsWith('>')) v = v.slice(1, -1);
  return v;
}
export function parseContact(s: string): Contact {
  if (s.trim() === '*') {
    return {
      star: true,
      displayName: null,
      uri: '*',
      bracketed: false,
      params: [],
      expires: undefined,
      q: undefined,
      instance: undefined,
      regId: undefined,
    };
  }
  const na = parseNameAddr(s);
  const exp = getParam(na.params, 'expires');
  let expires: number | undefined;
  // RFC 3261 §20.19 (§10.2.1.1): a malformed value counts as 3600, a larger one as 2**32-1;
  // neither makes the message unusable
  if (exp != null) expires = /^\s*[0-9]+\s*$/.test(exp) ? Math.min(Number(exp), 2 ** 32 - 1) : 3600;
  const qv = getParam(na.params, 'q');
  let q: number | undefined;
  if (qv != null) {
    if (!isQValue(qv)) throw new SipParseError('name-addr', `bad q ${qv}`);
    q = Number(qv);
  }
  const inst = getParam(na.params, '+sip.instance');
  const instance = inst == null ? undefined : unquoteInstance(inst);
  const rid = getParam(na.params, 'reg-id');
  let regId: number | undefined;
  if (rid != null) regId = parseUint(rid, 2 ** 31 - 1, 'scalar-range');
  // an explicit literal: an object spread here cost more than the whole parse (V8 clones slowly)
  return {
    star: false,
    displayName: na.displayName,
    uri: na.uri,
    bracketed: na.bracketed,
    params: na.params,
    expires,
    q,
    instance,
    regId,
  };
}

/** From/To tag, or undefined. */
export function tagOf(na: NameAddr): string | undefined {
  return getParam(na.params, 'tag') ?? undefined;
}
