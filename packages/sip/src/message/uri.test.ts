import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SipParseError } from '../errors.js';
import {
  formatSipUri,
  isIPv4,
  isIPv6,
  isPrivateAddress,
  isSipUri,
  parseUri,
  type SipUri,
  unescapeUri,
  uriEquals,
} from './uri.js';

function sip(s: string): SipUri {
  const u = parseUri(s);
  if (!isSipUri(u)) throw new Error('not sip');
  return u;
}

describe('parseUri', () => {
  it('reads every part of a sip URI', () => {
    const u = sip(
      'sips:alice:secret@Atlanta.example.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent',
    );
    expect(u).toMatchObject({
      scheme: 'sips',
      user: 'alice',
      password: 'secret',
      host: 'Atlanta.example.com',
      port: 5061,
      params: [
        { name: 'transport', value: 'tcp' },
        { name: 'lr', value: null },
      ],
      headers: [
        { name: 'subject', value: 'project%20x' },
        { name: 'priority', value: 'urgent' },
      ],
    });
  });
  it('reads IPv6 references with and without port (RFC 5118)', () => {
    expect(sip('sip:[2001:db8::10]:5070').port).toBe(5070);
    expect(sip('sip:[2001:db8::10:5070]').port).toBeNull();
    expect(sip('sip:u@[::ffff:192.0.2.1];maddr=[2001:db8::1]').host).toBe('[::ffff:192.0.2.1]');
    expect(() => parseUri('sip:2001:db8::10')).toThrow(SipParseError);
    expect(() => parseUri('sip:[2001:db8:::1]')).toThrow(SipParseError);
  });
  it('reads tel and other schemes', () => {
    expect(parseUri('tel:+1-201-555-0123;phone-context=example.com')).toMatchObject({
      scheme: 'tel',
      number: '+1-201-555-0123',
    });
    expect(parseUri('urn:service:sos').scheme).toBe('urn');
  });
  it('rejects spaces, brackets, bad escapes and bad ports', () => {
    for (const bad of [
      'sip:a b@x',
      '<sip:x>',
      'sip:x%4',
      'sip:x:99999',
      'sip:',
      'nocolon',
      'sip:a@x;;b',
    ]) {
      expect(() => parseUri(bad), bad).toThrow(SipParseError);
    }
  });
  it('unescapes', () => {
    expect(unescapeUri('sips%3Auser%40example.com')).toBe('sips:user@example.com');
  });
  it('validates IPv6 text', () => {
    expect(isIPv6('::')).toBe(true);
    expect(isIPv6('2001:db8::192.0.2.1')).toBe(true);
    expect(isIPv6('1:2:3:4:5:6:7:8')).toBe(true);
    expect(isIPv6('1:2:3:4:5:6:7:8:9')).toBe(false);
    expect(isIPv6('1::2::3')).toBe(false);
    expect(isIPv6('12345::')).toBe(false);
  });
  it('formats URIs, bracketing IPv6', () => {
    expect(formatSipUri({ host: '::1', port: 5060, params: [{ name: 'lr', value: null }] })).toBe(
      'sip:[::1]:5060;lr',
    );
  });
});

describe('uriEquals (RFC 3261 §19.1.4)', () => {
  const eq = (a: string, b: string): boolean => uriEquals(parseUri(a), parseUri(b));
  it('treats these as equal (the RFC examples)', () => {
    expect(eq('sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp')).toBe(
      true,
    );
    expect(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5')).toBe(true);
    expect(eq('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;newparam=5')).toBe(true);
    expect(
      eq(
        'sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com',
        'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com',
      ),
    ).toBe(true);
    expect(
      eq(
        'sip:alice@atlanta.com?subject=project%20x&priority=urgent',
        'sip:alice@atlanta.com?priority=urgent&subject=project%20x',
      ),
    ).toBe(true);
  });
  it('treats these as different (the RFC examples)', () => {
    expect(eq('SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP')).toBe(
      false,
    );
    expect(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060')).toBe(false);
    expect(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp')).toBe(false);
    expect(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp')).toBe(false);
    expect(eq('sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting')).toBe(false);
    expect(eq('sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4')).toBe(false);
    expect(eq('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off')).toBe(
      false,
    );
    expect(eq('sips:bob@biloxi.com', 'sip:bob@biloxi.com')).toBe(false);
  });
  it('compares tel numbers without visual separators', () => {
    expect(eq('tel:+1-201-555-0123', 'tel:+1.201.555.0123')).toBe(true);
    expect(eq('tel:+1-201-555-0123', 'tel:+1-201-555-0124')).toBe(false);
  });
});

describe('isIPv4 and isPrivateAddress', () => {
  /** The definition: four dot-separated decimal octets of 1 to 3 digits, each at most 255. */
  const dottedQuad = (s: string): boolean => {
    const parts = s.split('.');
    return parts.length === 4 && parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255);
  };

  it('accepts exactly the dotted quads', () => {
    for (const s of ['0.0.0.0', '255.255.255.255', '010.001.2.3', '127.0.0.1']) {
      expect(isIPv4(s)).toBe(true);
    }
    for (const s of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '1..2.3', '.1.2.3', '1.2.3.', '1.2.3.4a']) {
      expect(isIPv4(s)).toBe(false);
    }
    for (const s of ['1234.1.1.1', '1.2.3.0004', '', 'a.b.c.d', '1.2.3.-4']) {
      expect(isIPv4(s)).toBe(false);
    }
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({
            unit: fc.constantFrom('0', '1', '2', '5', '9', '.', 'x', ':'),
            maxLength: 17,
          }),
          fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((o) => o.join('.')),
        ),
        (s) => isIPv4(s) === dottedQuad(s),
      ),
      { numRuns: 2000 },
    );
  });

  it('finds the private, shared and link-local ranges, not loopback or public ones', () => {
    const priv = ['10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1'];
    for (const a of [...priv, '100.127.255.254', '169.254.1.1', '[fd00::1]', 'fe80::1']) {
      expect(isPrivateAddress(a)).toBe(true);
    }
    const pub = ['127.0.0.1', '172.15.0.1', '172.32.0.1', '192.169.0.1', '100.63.0.1', '8.8.8.8'];
    for (const a of [...pub, '100.128.0.1', '169.253.0.1', '11.0.0.1', '2001:db8::1', 'host']) {
      expect(isPrivateAddress(a)).toBe(false);
    }
  });
});
