import { randomBytes } from 'node:crypto';
import { SipParseError } from '../errors.js';
import { type NameAddr, parseNameAddr, type Via } from '../message/headers.js';
import { type SipMessage, validateMessage } from '../message/message.js';
import { isIPv6, isSipUri, parseUri, type Uri, uriParam } from '../message/uri.js';

const MAGIC = 'z9hG4bK';

/** A fresh RFC 3261 branch (magic cookie + 96 random bits). */
export function newBranch(): string {
  return MAGIC + randomBytes(12).toString('base64url');
}

/** A Via value for this hop. */
export function formatVia(
  transport: string,
  host: string,
  port: number | null,
  branch: string,
  rport = true,
): string {
  const h = isIPv6(host) ? `[${host}]` : host;
  return `SIP/2.0/${transport.toUpperCase()} ${h}${port === null ? '' : `:${port}`};branch=${branch}${rport ? ';rport' : ''}`;
}

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

/** Decrements Max-Forwards, or adds `Max-Forwards: 70` (RFC 3261 §16.6 step 3). */
export function decrementMaxForwards(req: SipMessage): number {
  const mf = req.maxForwards();
  const next = mf === undefined ? 70 : Math.max(0, mf - 1);
  req.setHeader('Max-Forwards', String(next));
  return next;
}

/**
 * Route pre-processing of RFC 3261 §16.4. `isLocal` says whether a URI names this proxy.
 * If the Request-URI is ours (a strict router upstream put our Record-Route there), it is
 * replaced with the last Route value, which is removed; then a top Route naming us is removed.
 */
export function preprocessRoute(
  req: SipMessage,
  isLocal: (uri: Uri) => boolean,
): { strictFixed: boolean; poppedLocal: boolean } {
  let strictFixed = false;
  let poppedLocal = false;
  const ruri = safeUri(req.requestUri);
  const routes = req.routes();
  if (ruri !== undefined && isLocal(ruri) && routes.length > 0) {
    const last = routes[routes.length - 1]!;
    req.removeLastValue('route');
    req.setRequestUri(last.uri);
    strictFixed = true;
  }
  const top = req.routes()[0];
  if (top !== undefined) {
    const u = safeUri(top.uri);
    if (u !== undefined && isLocal(u)) {
      req.removeTopRoute();
      poppedLocal = true;
    }
  }
  return { strictFixed, poppedLocal };
}

function safeUri(s: string): Uri | undefined {
  try {
    return parseUri(s);
  } catch {
    return undefined;
  }
}

/**
 * Where to send a request next (RFC 3261 §16.6 steps 6-7, §16.12): the top Route when there is
 * one — and if that route is a strict router (no `lr`), the request is rewritten the RFC 2543
 * way — else the Request-URI.
 */
export function nextHopUri(req: SipMessage): Uri {
  const top = req.routes()[0];
  if (top === undefined) return parseUri(req.requestUri);
  const u = parseUri(top.uri);
  if (isSipUri(u) && uriParam(u, 'lr') === undefined) {
    // strict router: Request-URI goes to the end of the route set, the route becomes the R-URI
    req.removeTopRoute();
    req.appendHeader('Route', `<${req.requestUri}>`);
    req.setRequestUri(top.uri);
  }
  return u;
}

/**
 * Adds Record-Route. With two URIs (the interface the request came in on and the one it leaves
 * by, when they differ in transport or address family: RFC 5658 double record-routing) both are
 * added, the outbound one on top.
 */
export function addRecordRoute(req: SipMessage, inbound: string, outbound?: string): void {
  req.prependRecordRoute(`<${inbound}>`);
  if (outbound !== undefined && outbound !== inbound) req.prependRecordRoute(`<${outbound}>`);
}

/**
 * RFC 3261 §18.2.1 and RFC 3581 §4: adds `received` when the top Via's sent-by differs from
 * the packet source, and fills an empty `rport` (adding `received` too). Rewrites only the top
 * Via element.
 */
export function fixTopVia(req: SipMessage, sourceAddress: string, sourcePort: number): void {
  const first = req.values('via')[0];
  const via = req.topVia();
  if (first === undefined || via === undefined) return;
  const host = via.host.startsWith('[') ? via.host.slice(1, -1) : via.host;
  const wantRport = via.rport === true;
  if (host === sourceAddress && !wantRport) return;
  let value = first;
  const src = isIPv6(sourceAddress) ? `[${sourceAddress}]` : sourceAddress;
  if (wantRport) value = value.replace(/;\s*rport(?=\s*(;|$))/i, `;rport=${sourcePort}`);
  if (via.received === undefined) value = `${value};received=${src}`;
  req.setFirstValue('via', value);
}

/** Where a response goes after its top Via (ours) is removed (RFC 3261 §18.2.2, RFC 3581 §4). */
export function responseDestination(via: Via): {
  transport: string;
  address: string;
  port: number;
} {
  const address = via.received ?? via.host;
  const port =
    typeof via.rport === 'number'
      ? via.rport
      : (via.port ?? (via.transport === 'TLS' ? 5061 : 5060));
  const bareAddr = address.startsWith('[') ? address.slice(1, -1) : address;
  return { transport: via.transport, address: bareAddr, port };
}

/**
 * A branch for stateless forwarding (RFC 3261 §16.11): the same for retransmissions of a
 * request, and the same for an INVITE, its CANCEL and its non-2xx ACK, so downstream
 * transaction matching works. Derived from the incoming branch, or from the RFC 2543 identity
 * of the request when there is no magic cookie.
 */
export function statelessBranch(req: SipMessage, secret = ''): string {
  const via = req.topVia();
  const input = via?.branch?.startsWith(MAGIC)
    ? `${secret}|${via.branch}|${via.host}|${via.port ?? ''}`
    : `${secret}|${req.requestUri}|${req.fromTag() ?? ''}|${req.callId()}|${req.cseq().seq}|${req.values('via')[0] ?? ''}`;
  return `${MAGIC}sl${fnv1a(input, 0x811c9dc5)}${fnv1a(input, 0x050c5d1f)}`;
}

/** 32-bit FNV-1a as 8 hex digits (a fast, stable hash; the branch needs uniqueness, not secrecy). */
function fnv1a(s: string, seed: number): string {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * The edits a stateless proxy makes to a request it forwards: Max-Forwards, received/rport on the
 * sender's Via, our Via on top with a stable branch. Returns the bytes to send.
 */
export function forwardStateless(
  req: SipMessage,
  self: { transport: string; host: string; port: number | null; secret?: string },
  source: { address: string; port: number },
): Buffer {
  decrementMaxForwards(req);
  fixTopVia(req, source.address, source.port);
  req.prependVia(
    formatVia(self.transport, self.host, self.port, statelessBranch(req, self.secret ?? ''), false),
  );
  return req.toBuffer();
}

export type { NameAddr };
/** Parses a Record-Route/Route/Path value list into URIs (route set construction helper). */
export function routeSet(values: readonly string[]): NameAddr[] {
  return values.map(parseNameAddr);
}
