import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';

type LookupCallback = (err: Error | null, address: string, family: number) => void;

let lastLiteral = '';
let lastFamily = 0;

/**
 * An address lookup for `dgram.createSocket({ lookup })`. A UDP socket nearly always sends to
 * an IP literal (the sender's address as `rinfo` gave it, a Via's received/rport, a stored
 * contact): this answers a literal at once instead of through `dns.lookup`, which defers even
 * a literal to another tick and showed as the largest item of busy sockets' profiles. The last
 * literal is remembered, so a run of sends to one peer skips even the IP syntax check. Names
 * still go to `dns.lookup`.
 */
export function literalFirstLookup(
  address: string,
  family: unknown,
  callback: LookupCallback,
): void {
  if (address === lastLiteral) {
    callback(null, address, lastFamily);
    return;
  }
  const kind = isIP(address);
  if (kind === 0) {
    (dnsLookup as (a: string, f: unknown, cb: LookupCallback) => void)(address, family, callback);
    return;
  }
  lastLiteral = address;
  lastFamily = kind;
  callback(null, address, kind);
}
