/**
 * How rtpproxy treats the remote_ip and remote_port of U/L (docs/protocols/rtpproxy.md §2.1;
 * rtpproxy src/commands/rpcpv1_ul.c `IS_IPSTR_VALID` and src/rtpp_network.c `resolve`): an address
 * whose length is implausible for the family is silently ignored; a plausible one must resolve
 * as a numeric host with the port as service, or the command answers `E37`; a null host
 * (0.0.0.0, ::) puts the stream on hold.
 *
 * Numeric hosts follow `getaddrinfo(AI_NUMERICHOST)`: IPv4 in `inet_aton` forms (`a.b.c.d`,
 * `a.b.c`, `a.b`, `a`, each part decimal, octal with a leading 0, or hex with 0x), IPv6 in RFC
 * 4291 text form with an optional `%scope`. The port must be a decimal number 0..65535; a
 * service name that `/etc/services` would know is answered `E37` here (clients never send one).
 */
import { isIpv6 } from './modifiers.js';

export type RemoteAddressStatus = 'ok' | 'onhold' | 'ignored' | 'invalid';

/** `inet_aton`: the address as a 32-bit number, or -1. */
export function inetAton(s: string): number {
  const n = s.length;
  let value = 0; // the parts before the last, already shifted into place
  let count = 0;
  let i = 0;
  for (;;) {
    if (i >= n) return -1;
    let c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    let base = 10;
    if (c === 48 && i + 1 < n) {
      if ((s.charCodeAt(i + 1) | 0x20) === 120) {
        base = 16;
        i += 2;
      } else {
        base = 8;
      }
    }
    let v = 0;
    let digits = 0;
    for (; i < n; i++) {
      c = s.charCodeAt(i);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (base === 16 && (c | 0x20) >= 97 && (c | 0x20) <= 102) d = (c | 0x20) - 87;
      else break;
      if (d >= base) return -1;
      v = v * base + d;
      if (v > 0xffffffff) return -1;
      digits++;
    }
    if (digits === 0) return -1;
    count++;
    if (i === n) {
      // the last part fills the bytes that are left
      const limit = count === 1 ? 0xffffffff : count === 2 ? 0xffffff : count === 3 ? 0xffff : 0xff;
      return v > limit ? -1 : value + v;
    }
    if (s.charCodeAt(i) !== 46 || count === 4 || v > 0xff) return -1;
    value += v * (count === 1 ? 16777216 : count === 2 ? 65536 : 256);
    i++;
  }
}

function isPort(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 10) return false;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    v = v * 10 + (c - 48);
  }
  return v <= 65535;
}

function isNullV6(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 48 && c !== 58 && c !== 46) return false;
  }
  return true;
}

/**
 * What rtpproxy makes of a U/L remote_ip and remote_port; `ipv6` is the `6` modifier, which
 * picks the family the address is read in.
 */
export function remoteAddressStatus(ip: string, port: string, ipv6: boolean): RemoteAddressStatus {
  const n = ip.length;
  if (ipv6 ? n < 2 || n > 45 : n < 7 || n > 15) return 'ignored';
  if (ipv6) {
    const pct = ip.indexOf('%');
    const host = pct < 0 ? ip : ip.slice(0, pct);
    if (!isIpv6(host) || pct === n - 1) return 'invalid';
    if (!isPort(port)) return 'invalid';
    return isNullV6(host) ? 'onhold' : 'ok';
  }
  const v = inetAton(ip);
  if (v < 0 || !isPort(port)) return 'invalid';
  return v === 0 ? 'onhold' : 'ok';
}
