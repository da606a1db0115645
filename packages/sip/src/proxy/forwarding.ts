/**
 * The edits RFC 3261 §16.4–16.6 make to a request a proxy forwards: route pre-processing (loose
 * routing, strict-router fix-up), Max-Forwards, the next hop, Record-Route, and the whole
 * stateless forward (§16.11).
 */
import { type NameAddr, parseNameAddr } from '../message/headers.js';
import type { SipMessage } from '../message/message.js';
import { parseMessage } from '../message/parse-message.js';
import { isSipUri, parseUri, type Uri, uriParam } from '../message/uri.js';
import { fixTopVia, formatVia, statelessBranch } from './via.js';

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

/** A deep copy of a request: each branch of a fork edits its own (RFC 3261 §16.6 step 1). */
export function copyRequest(req: SipMessage): SipMessage {
  return parseMessage(req.toBuffer());
}

/**
 * A fork branch's own request (RFC 3261 §16.6 steps 1, 2 and 6): a copy with the target's
 * Request-URI and its route set (a binding's Path, a pre-loaded route) in front of the Route
 * values the request has.
 */
export function copyForTarget(
  req: SipMessage,
  uri: string,
  routeSet: readonly string[],
): SipMessage {
  const copy = copyRequest(req);
  copy.setRequestUri(uri);
  for (let i = routeSet.length - 1; i >= 0; i--) copy.prependRoute(routeSet[i]!);
  return copy;
}

export type { NameAddr };
/** Parses a Record-Route/Route/Path value list into URIs (route set construction helper). */
export function routeSet(values: readonly string[]): NameAddr[] {
  return values.map(parseNameAddr);
}
