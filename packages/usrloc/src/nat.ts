/**
 * Which stored bindings sit behind a NAT and need keep-alives (the NAT pinger asks for every
 * binding it is told of), from the record alone: flags, Contact and received address.
 */
import { isPrivateAddress, isSipUri, parseUri } from '@sipedge/sip';
import { type ContactRecord, FLAG_NAT } from './model.js';

/**
 * Does this contact sit behind a NAT, so that its binding needs keep-alives? Its flags say so
 * (the registrar's NAT test), its Contact names a private address, or the REGISTER came from
 * another host than the Contact names.
 */
export function isBehindNat(c: ContactRecord, natFlags = FLAG_NAT): boolean {
  if ((c.flags & natFlags) !== 0) return true;
  const contactHost = hostOf(c.uri);
  if (contactHost === undefined) return false;
  if (isPrivateAddress(contactHost)) return true;
  if (c.received === null) return false;
  if (namesHostFirst(c.received, contactHost)) return false;
  const receivedHost = hostOf(c.received);
  return receivedHost !== undefined && receivedHost.toLowerCase() !== contactHost.toLowerCase();
}

/**
 * Is `received` `sip:<host>` or `sips:<host>` followed by its end, a port, parameters or
 * headers (what the registrar writes: the source address)? Then it names the same host as the
 * Contact if it parses, and does not parse otherwise: "not behind NAT" either way, without the
 * second URI parse per binding (a host with a colon, IPv6, and anything with a user part take
 * the full parse).
 */
function namesHostFirst(received: string, host: string): boolean {
  if (host.includes(':') || received.includes('@')) return false;
  const colon = received.indexOf(':');
  if (colon !== 3 && colon !== 4) return false;
  const scheme = received.slice(0, colon).toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips') return false;
  const end = colon + 1 + host.length;
  if (received.length < end) return false;
  const next = received.charCodeAt(end);
  if (end < received.length && next !== 58 && next !== 59 && next !== 63) return false;
  return received.slice(colon + 1, end).toLowerCase() === host.toLowerCase();
}

function hostOf(uri: string): string | undefined {
  try {
    const u = parseUri(uri);
    if (!isSipUri(u)) return undefined;
    return u.host.startsWith('[') ? u.host.slice(1, -1) : u.host;
  } catch {
    return undefined;
  }
}
