/**
 * What the router does for a federation of sites: on a local miss, one branch to each other
 * site holding the AoR, marked with the federation header so that the site receiving it looks
 * up locally only (no second federation hop) and leaves the media where it was anchored.
 */
import { copyForTarget, type ProxyTarget, type SipMessage } from '@sipedge/sip';
import { parseAddress } from './config.js';
import type { Hop } from './sip-edge.js';

/** Marks a request one site forwarded to another; its value is the sending site. */
export const FEDERATION_HEADER = 'X-Sipedge-Federation';

/** What the router needs of the federation (wiring/federation.ts). */
export interface FederationRouting {
  /** This site's id: the value of the federation header on what it forwards. */
  readonly site: string;
  /** The canonical AoR of a Request-URI, as the location table keys it; throws if none. */
  aorOf(uri: string): string;
  /** The other sites holding `aor`, with their addresses; never rejects. */
  remoteSites(aor: string): Promise<readonly { site: string; address: string }[]>;
  /** `site` answered 404 for `aor`. */
  notFound(aor: string, site: string): void;
}

/** A branch of `req` to the site at `address` (`host:port`, UDP), marked as sent by `ownSite`. */
export function siteTarget(
  req: SipMessage,
  from: Hop,
  address: string,
  ownSite: string,
): ProxyTarget<Hop> {
  const { host, port } = parseAddress(address);
  const request = copyForTarget(req, req.requestUri, []);
  request.setHeader(FEDERATION_HEADER, ownSite);
  return {
    hop: {
      transport: 'UDP',
      address: host,
      port,
      iface: from.iface,
    },
    direct: false,
    request,
  };
}
