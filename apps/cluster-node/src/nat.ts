/**
 * NAT detection and fixing for the edge (nathelper's `nat_uac_test` and `fix_nated_contact`):
 * a UA is behind NAT when its Contact or Via names a private address (RFC 1918, RFC 6598
 * shared space, IPv6 ULA) or an address other than the packet's source.
 */
import { isPrivateAddress, isSipUri, parseUri, type SipMessage } from '@sipedge/sip';

/** The host:port of the first Contact, if it is a SIP URI. */
function contactHostPort(msg: SipMessage): { host: string; port: number | undefined } | undefined {
  try {
    // memoized by the message (validation parsed it already)
    const c = msg.contacts()[0];
    if (c === undefined || c.star) return undefined;
    const u = parseUri(c.uri);
    if (!isSipUri(u)) return undefined;
    const host = u.host.startsWith('[') ? u.host.slice(1, -1) : u.host;
    return { host, port: u.port ?? undefined };
  } catch {
    return undefined;
  }
}

/**
 * Is the sender behind NAT? Its first Contact names a private address, or the top Via's
 * sent-by differs from the packet source (nathelper tests 1 and 2).
 */
export function behindNat(msg: SipMessage, source: { address: string; port: number }): boolean {
  const c = contactHostPort(msg);
  if (c !== undefined && isPrivateAddress(c.host) && c.host !== source.address) return true;
  const via = msg.isRequest ? msg.topVia() : undefined;
  if (via !== undefined) {
    const h = via.host.startsWith('[') ? via.host.slice(1, -1) : via.host;
    if (h !== source.address) return true;
    if ((via.port ?? 5060) !== source.port && via.transport === 'UDP') return true;
  }
  return false;
}

/**
 * `fix_nated_contact`: rewrites the host:port of the first Contact to the packet source when
 * that Contact names a private address (so in-dialog requests reach the UA's NAT binding).
 * Returns true when the Contact changed.
 */
export function fixNatedContact(
  msg: SipMessage,
  source: { address: string; port: number },
): boolean {
  const raw = msg.values('contact')[0];
  const c = contactHostPort(msg);
  if (raw === undefined || c === undefined || !isPrivateAddress(c.host)) return false;
  if (c.host === source.address && (c.port ?? 5060) === source.port) return false;
  const host = source.address.includes(':') ? `[${source.address}]` : source.address;
  const hostPort = /@?(\[[^\]]+\]|[^;:>@?]+)(:\d+)?/;
  const lt = raw.indexOf('<');
  const uriStart = lt < 0 ? 0 : lt + 1;
  const at = raw.indexOf('@', uriStart);
  const from = at < 0 ? raw.indexOf(':', uriStart) + 1 : at + 1;
  const rest = raw.slice(from);
  const m = hostPort.exec(rest);
  if (m === null || m.index !== 0) return false;
  const fixed = `${raw.slice(0, from)}${host}:${source.port}${rest.slice(m[0].length)}`;
  msg.setFirstValue('contact', fixed);
  return true;
}
