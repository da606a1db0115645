/**
 * The Via edits of a proxy: our own Via with a fresh or a stateless branch (RFC 3261 §16.6
 * step 8, §16.11), `received`/`rport` on the sender's Via (§18.2.1, RFC 3581), and where a
 * response goes once our Via is removed (§18.2.2).
 */
import { randomBytes } from 'node:crypto';
import { fnv1a } from '@sipedge/core';
import type { Via } from '../message/headers.js';
import type { SipMessage } from '../message/message.js';
import { isIPv6 } from '../message/uri.js';

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
  return `${MAGIC}sl${hex8(fnv1a(input))}${hex8(fnv1a(input, 0x050c5d1f))}`;
}

/** A 32-bit hash as 8 hex digits (the branch needs uniqueness, not secrecy). */
function hex8(h: number): string {
  return (h >>> 0).toString(16).padStart(8, '0');
}
