import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import { MiError } from '../errors.js';

/** A listener configuration that would expose the MI without protection. */
export class MiSecurityError extends MiError {
  constructor(message: string) {
    super('MI_SECURITY', message);
  }
}

/** True for 127.0.0.0/8, ::1, IPv4-mapped loopback and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/**
 * The bind policy: loopback needs nothing; any other address (including 0.0.0.0 and ::)
 * requires a non-empty bearer token of at least 16 characters. Throws `MiSecurityError`.
 */
export function checkBindPolicy(host: string, token: string | undefined): void {
  if (token !== undefined && token.length < 16) {
    throw new MiSecurityError('the MI token must be at least 16 characters');
  }
  if (!isLoopbackHost(host) && token === undefined) {
    throw new MiSecurityError(`binding the MI to ${host} requires a token (only loopback is open)`);
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Check an `Authorization` header against the expected token in constant time (both sides are
 * hashed to equal length first, so neither length nor content leaks through timing).
 */
export function checkBearer(header: string | undefined, token: string): boolean {
  const expected = digest(token);
  const m = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  const given = digest(m?.[1] ?? '');
  return timingSafeEqual(expected, given) && m !== null;
}

/** The WebSocket subprotocol a browser names to speak MI JSON-RPC (the server echoes it). */
export const MI_WS_PROTOCOL = 'sipedge-mi';
/**
 * A browser cannot set `Authorization` on a WebSocket, so it offers the token as a second
 * subprotocol, `bearer.<token as base64url>`; the server never echoes that one.
 */
export const MI_WS_BEARER_PREFIX = 'bearer.';

/** The `Bearer …` header a `Sec-WebSocket-Protocol` list carries, if any. */
export function bearerFromProtocols(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const p of header.split(',')) {
    const v = p.trim();
    if (!v.startsWith(MI_WS_BEARER_PREFIX)) continue;
    return `Bearer ${Buffer.from(v.slice(MI_WS_BEARER_PREFIX.length), 'base64url').toString('utf8')}`;
  }
  return undefined;
}

/**
 * True when `origin` is the page's own: the scheme and `Host` the request came to, with that host
 * an IP literal or `localhost`. A DNS-rebinding page has the same origin as the `Host` it sends,
 * but its host is a name, never a literal, so only pages this listener served itself match;
 * a listener reached by name lists that origin in `allowed_origins`.
 */
export function isOwnLiteralOrigin(
  origin: string,
  host: string | undefined,
  secure: boolean,
): boolean {
  if (host === undefined || origin !== `${secure ? 'https' : 'http'}://${host}`) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':', 1)[0]!;
  return net.isIP(name) !== 0 || name.toLowerCase() === 'localhost';
}
