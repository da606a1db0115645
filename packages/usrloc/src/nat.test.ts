import { isPrivateAddress, isSipUri, parseUri } from '@sipedge/sip';
import { describe, expect, it } from 'vitest';
import { plainContact } from '../test/contacts.js';
import { type ContactRecord, FLAG_NAT } from './model.js';
import { isBehindNat } from './nat.js';

describe('isBehindNat against the received address', () => {
  /** The definition: both URIs parsed in full, the hosts compared without brackets or case. */
  const reference = (c: ContactRecord): boolean => {
    const hostOf = (uri: string): string | undefined => {
      try {
        const u = parseUri(uri);
        if (!isSipUri(u)) return undefined;
        return u.host.startsWith('[') ? u.host.slice(1, -1) : u.host;
      } catch {
        return undefined;
      }
    };
    if ((c.flags & FLAG_NAT) !== 0) return true;
    const contactHost = hostOf(c.uri);
    if (contactHost === undefined) return false;
    if (isPrivateAddress(contactHost)) return true;
    if (c.received === null) return false;
    const r = hostOf(c.received);
    return r !== undefined && r.toLowerCase() !== contactHost.toLowerCase();
  };

  it('answers as the full parse of both URIs does, for every shape of received', () => {
    const uris = [
      'sip:u@203.0.113.9',
      'sip:u@Host.Example:5070',
      'sip:u@[2001:db8::1]:5060',
      'sips:u@2001',
      'sip:u@1.2.3',
    ];
    const schemes = ['sip:', 'SIP:', 'sips:', 'tel:', 'sip', 'xsip:', ''];
    const users = ['', 'u@', 'a:b@'];
    const hosts = ['203.0.113.9', 'host.example', 'HOST.example', '2001', '2001:db8::1'];
    const more = ['[2001:db8::1]', '198.51.100.3', '203.0.113.90', '203.0.113', '1.2.3', ''];
    const suffixes = ['', ':5060', ':50x', ';transport=tcp', '?h=1', 'x', ':5060@evil', ':99999'];
    let checked = 0;
    for (const uri of uris) {
      for (const scheme of schemes) {
        for (const user of users) {
          for (const host of [...hosts, ...more]) {
            for (const suffix of suffixes) {
              const c = plainContact('n1-s-1', {
                aor: 'u@example.com',
                uri,
                received: `${scheme}${user}${host}${suffix}`,
              });
              expect(isBehindNat(c), `${uri} received ${c.received}`).toBe(reference(c));
              checked++;
            }
          }
        }
      }
    }
    expect(checked).toBe(5 * 7 * 3 * 11 * 8);
  });
});
