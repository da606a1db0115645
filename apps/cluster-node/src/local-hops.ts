/**
 * The Route values that name this node, and what they say: the hops of ours that a request
 * carries back (Record-Route of a dialog, Path of a registration) with the interface they name,
 * the UA's NAT source (`;received=`), its connection (`;flow=`), a Path hop (`;pt`) and media
 * anchored here (`;ma`).
 */
import { isSipUri, parseUri, type SipMessage, type SipUri, type Uri, uriParam } from '@sipedge/sip';
import type { EdgeInterface, SipEdge } from './sip-edge.js';

/** Where our own Route/Path hop says the request goes next (a Path hop names the UA). */
export interface LocalHop {
  readonly iface: EdgeInterface | undefined;
  /** Our Path hop (`;pt`): the request goes on to the Request-URI's UA, never to lookup. */
  readonly path: boolean;
  readonly received?: { transport: string; address: string; port: number };
  readonly flow?: string;
  readonly media: boolean;
}

/** Removes the Route values that name us; returns what they said. */
export function popLocalRoutes(edge: SipEdge, req: SipMessage): LocalHop[] {
  const out: LocalHop[] = [];
  for (let i = 0; i < 4; i++) {
    const top = req.routes()[0];
    if (top === undefined) break;
    const u = safeUri(top.uri);
    if (u === undefined || !isSipUri(u) || !edge.isLocalAddress(u.host, u.port)) break;
    req.removeTopRoute();
    const iface = edge.interfaces.find((f) =>
      f.listeners.some((l) => l.address === hostOf(u) && l.port === (u.port ?? 5060)),
    );
    const rcv = uriParam(u, 'received');
    let received: LocalHop['received'];
    if (typeof rcv === 'string') {
      const r = safeUri(safeDecode(rcv));
      if (r !== undefined && isSipUri(r) && r.port !== null) {
        received = { transport: transportOf(r), address: hostOf(r), port: r.port };
      }
    }
    const flow = uriParam(u, 'flow');
    out.push({
      iface,
      path: uriParam(u, 'pt') !== undefined,
      ...(received === undefined ? {} : { received }),
      ...(typeof flow === 'string' && flow.length > 0 ? { flow: safeDecode(flow) } : {}),
      media: uriParam(u, 'ma') !== undefined,
    });
  }
  return out;
}

/** A %-escaped parameter value decoded; one that does not decode (not UTF-8) stays as it is. */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function safeUri(s: string): Uri | undefined {
  try {
    return parseUri(s);
  } catch {
    return undefined;
  }
}

export function hostOf(u: SipUri): string {
  return u.host.startsWith('[') ? u.host.slice(1, -1) : u.host;
}

export function transportOf(u: SipUri): string {
  const t = uriParam(u, 'transport');
  if (typeof t === 'string' && t.length > 0) return t.toUpperCase();
  return u.scheme === 'sips' ? 'TLS' : 'UDP';
}
