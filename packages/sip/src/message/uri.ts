import { SipParseError } from '../errors.js';

/** A URI parameter or header: name as written and its value (null for a bare flag). */
export interface UriParam {
  readonly name: string;
  readonly value: string | null;
}

export interface SipUri {
  readonly scheme: 'sip' | 'sips';
  /** User part as written (still %-escaped); null when absent. */
  readonly user: string | null;
  readonly password: string | null;
  /** Host as written: a name, an IPv4 address or an IPv6 reference with its brackets. */
  readonly host: string;
  readonly port: number | null;
  readonly params: readonly UriParam[];
  readonly headers: readonly UriParam[];
  readonly raw: string;
}

export interface TelUri {
  readonly scheme: 'tel';
  readonly number: string;
  readonly params: readonly UriParam[];
  readonly raw: string;
}

/** Any other absolute URI (RFC 4475 §3.3.2/3.3.3 allow unknown schemes outside the Request-URI). */
export interface OtherUri {
  readonly scheme: string;
  readonly raw: string;
}

export type Uri = SipUri | TelUri | OtherUri;

export function isSipUri(u: Uri): u is SipUri {
  return u.scheme === 'sip' || u.scheme === 'sips';
}
export function isTelUri(u: Uri): u is TelUri {
  return u.scheme === 'tel';
}

function bad(detail: string): never {
  throw new SipParseError('uri', detail);
}

/** Characters never allowed unescaped anywhere in a URI. */
function checkChars(s: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c >= 127 || c === 60 || c === 62 || c === 34 || c === 92 || c === 96) {
      bad(`character 0x${c.toString(16)} not allowed in URI`);
    }
    if (c === 37 /* % */) {
      if (!isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) bad('malformed %-escape');
      i += 2;
    }
  }
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** Decodes %-escapes (RFC 3261 §19.1.2) into a binary (latin1) string. */
export function unescapeUri(s: string): string {
  if (s.indexOf('%') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '%' && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) {
      out += String.fromCharCode(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out += c;
  }
  return out;
}

/** True when `s` is a textual IPv6 address (without brackets). */
export function isIPv6(s: string): boolean {
  if (s.length < 2 || s.length > 45) return false;
  let groups = s.split(':');
  const last = groups[groups.length - 1]!;
  if (last.includes('.')) {
    if (!isIPv4(last)) return false;
    groups = groups.slice(0, -1);
    groups.push('0', '0');
  }
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return false;
  let count = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (g === '') {
      // allowed only as part of '::' (at the edges two empty groups appear)
      if (dbl < 0) return false;
      continue;
    }
    if (g.length > 4) return false;
    for (let j = 0; j < g.length; j++) if (!isHex(g.charCodeAt(j))) return false;
    count++;
  }
  if (s.startsWith(':') && !s.startsWith('::')) return false;
  if (s.endsWith(':') && !s.endsWith('::')) return false;
  return dbl >= 0 ? count < 8 : count === 8;
}

/**
 * The value of a dotted-quad IPv4 literal (four decimal octets of 1 to 3 digits, each ≤ 255),
 * or -1. One pass over the characters: it runs for every Contact and Via a registrar checks
 * for NAT.
 */
function ipv4Value(s: string): number {
  const n = s.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || octet > 255 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (++digits > 3) return -1;
      octet = octet * 10 + c - 48;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || octet > 255) return -1;
  return value * 256 + octet;
}

export function isIPv4(s: string): boolean {
  return ipv4Value(s) >= 0;
}

/**
 * Is `address` (an IP literal, IPv6 with or without brackets) in a range that is not routed on
 * the internet, so that a UA naming it is behind NAT: RFC 1918, RFC 6598 shared space
 * (100.64/10), IPv4 and IPv6 link-local, IPv6 unique-local (fc00::/7). Loopback is not: a UA on
 * the same host as its registrar is reachable at the address it names.
 */
export function isPrivateAddress(address: string): boolean {
  const a = address.startsWith('[') ? address.slice(1, -1) : address;
  const v4 = ipv4Value(a);
  if (v4 >= 0) {
    const p = Math.floor(v4 / 0x1000000);
    const q = Math.floor(v4 / 0x10000) % 256;
    return (
      p === 10 ||
      (p === 172 && q >= 16 && q <= 31) ||
      (p === 192 && q === 168) ||
      (p === 100 && q >= 64 && q <= 127) ||
      (p === 169 && q === 254)
    );
  }
  if (isIPv6(a)) {
    const first = a.toLowerCase();
    return first.startsWith('fc') || first.startsWith('fd') || first.startsWith('fe80');
  }
  return false;
}

function checkHost(host: string): void {
  if (host.length === 0) bad('empty host');
  if (host.charCodeAt(0) === 91) {
    if (!host.endsWith(']') || !isIPv6(host.slice(1, -1))) bad(`bad IPv6 reference ${host}`);
    return;
  }
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const ok =
      (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46;
    if (!ok) bad(`bad host ${host}`);
  }
}

function splitPairs(s: string, sep: string): UriParam[] {
  const out: UriParam[] = [];
  for (const part of s.split(sep)) {
    if (part.length === 0) bad('empty URI parameter');
    const eq = part.indexOf('=');
    if (eq === 0) bad('empty URI parameter name');
    out.push(
      eq < 0 ? { name: part, value: null } : { name: part.slice(0, eq), value: part.slice(eq + 1) },
    );
  }
  return out;
}

/** Parses a sip:, sips:, tel: or other absolute URI. Throws SipParseError('uri'). */
export function parseUri(raw: string): Uri {
  const colon = raw.indexOf(':');
  if (colon <= 0) bad('missing scheme');
  const scheme = raw.slice(0, colon).toLowerCase();
  for (let i = 0; i < scheme.length; i++) {
    const c = scheme.charCodeAt(i);
    const ok =
      (c >= 97 && c <= 122) ||
      (i > 0 && ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46));
    if (!ok) bad('bad scheme');
  }
  checkChars(raw);
  const rest = raw.slice(colon + 1);
  if (scheme === 'sip' || scheme === 'sips') return parseSipRest(scheme, rest, raw);
  if (scheme === 'tel') {
    const semi = rest.indexOf(';');
    const number = semi < 0 ? rest : rest.slice(0, semi);
    if (number.length === 0 || !/^[+]?[0-9A-Fa-f*#.()\-pw]+$/.test(number)) bad('bad tel number');
    return { scheme, number, params: semi < 0 ? [] : splitPairs(rest.slice(semi + 1), ';'), raw };
  }
  if (rest.length === 0) bad('empty URI');
  return { scheme, raw };
}

function parseSipRest(scheme: 'sip' | 'sips', rest: string, raw: string): SipUri {
  let user: string | null = null;
  let password: string | null = null;
  const at = rest.indexOf('@');
  let i = 0;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const pc = userinfo.indexOf(':');
    user = pc < 0 ? userinfo : userinfo.slice(0, pc);
    if (pc >= 0) password = userinfo.slice(pc + 1);
    if (user.length === 0) bad('empty user');
    i = at + 1;
  }
  let hostEnd: number;
  if (rest.charCodeAt(i) === 91) {
    const close = rest.indexOf(']', i);
    if (close < 0) bad('unterminated IPv6 reference');
    hostEnd = close + 1;
  } else {
    hostEnd = i;
    while (hostEnd < rest.length) {
      const c = rest.charCodeAt(hostEnd);
      if (c === 58 || c === 59 || c === 63) break;
      hostEnd++;
    }
  }
  const host = rest.slice(i, hostEnd);
  checkHost(host);
  i = hostEnd;
  let port: number | null = null;
  if (rest.charCodeAt(i) === 58) {
    let j = i + 1;
    while (j < rest.length && rest.charCodeAt(j) >= 48 && rest.charCodeAt(j) <= 57) j++;
    if (j === i + 1 || j - i > 6) bad('bad port');
    port = Number(rest.slice(i + 1, j));
    if (port > 65535) bad('port out of range');
    i = j;
  }
  let params: UriParam[] = [];
  let headers: UriParam[] = [];
  const q = rest.indexOf('?', i);
  if (rest.charCodeAt(i) === 59) {
    params = splitPairs(rest.slice(i + 1, q < 0 ? rest.length : q), ';');
  } else if (i < rest.length && rest.charCodeAt(i) !== 63) {
    bad(`unexpected '${rest[i]}' after host`);
  }
  if (q >= 0) headers = splitPairs(rest.slice(q + 1), '&');
  return { scheme, user, password, host, port, params, headers, raw };
}

export function uriParam(uri: SipUri | TelUri, name: string): string | null | undefined {
  const lower = name.toLowerCase();
  for (const p of uri.params) if (p.name.toLowerCase() === lower) return p.value;
  return undefined;
}

const MUST_MATCH = ['user', 'ttl', 'method', 'maddr', 'transport'];

function paramMap(list: readonly UriParam[]): Map<string, string | null> {
  const m = new Map<string, string | null>();
  for (const p of list) {
    m.set(unescapeUri(p.name).toLowerCase(), p.value === null ? null : unescapeUri(p.value));
  }
  return m;
}

function eqCi(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a === b) return true;
  if (a == null || b == null) return false;
  return a.toLowerCase() === b.toLowerCase();
}

/** URI equivalence per RFC 3261 §19.1.4 (sip/sips), RFC 3966 §4 (tel, simplified), else exact. */
export function uriEquals(a: Uri, b: Uri): boolean {
  if (a.scheme !== b.scheme) return false;
  if (isSipUri(a) && isSipUri(b)) {
    if ((a.user === null) !== (b.user === null)) return false;
    if (a.user !== null && unescapeUri(a.user) !== unescapeUri(b.user!)) return false;
    if (a.password !== b.password) {
      if (a.password === null || b.password === null) return false;
      if (unescapeUri(a.password) !== unescapeUri(b.password)) return false;
    }
    if (a.host.toLowerCase() !== b.host.toLowerCase()) return false;
    if (a.port !== b.port) return false;
    const pa = paramMap(a.params);
    const pb = paramMap(b.params);
    for (const name of MUST_MATCH) {
      if (pa.has(name) !== pb.has(name)) return false;
      if (pa.has(name) && !eqCi(pa.get(name), pb.get(name))) return false;
    }
    for (const [name, value] of pa) {
      if (pb.has(name) && !eqCi(value, pb.get(name))) return false;
    }
    const ha = paramMap(a.headers);
    const hb = paramMap(b.headers);
    if (ha.size !== hb.size) return false;
    for (const [name, value] of ha) {
      if (!hb.has(name) || hb.get(name) !== value) return false;
    }
    return true;
  }
  if (isTelUri(a) && isTelUri(b)) {
    const strip = (n: string): string => n.replace(/[-.()]/g, '').toLowerCase();
    if (strip(a.number) !== strip(b.number)) return false;
    const pa = paramMap(a.params);
    const pb = paramMap(b.params);
    if (pa.size !== pb.size) return false;
    for (const [name, value] of pa) if (!eqCi(value, pb.get(name))) return false;
    return true;
  }
  return a.raw === b.raw;
}

/** Builds a sip/sips URI string; `host` may be an IPv6 address with or without brackets. */
export function formatSipUri(parts: {
  scheme?: 'sip' | 'sips';
  user?: string | null;
  host: string;
  port?: number | null;
  params?: readonly UriParam[];
}): string {
  let host = parts.host;
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  let s = `${parts.scheme ?? 'sip'}:`;
  if (parts.user != null) s += `${parts.user}@`;
  s += host;
  if (parts.port != null) s += `:${parts.port}`;
  for (const p of parts.params ?? [])
    s += p.value === null ? `;${p.name}` : `;${p.name}=${p.value}`;
  return s;
}
