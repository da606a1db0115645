import { VirtualClock } from '@sipedge/core/testing';
import { parseMessage } from '@sipedge/sip';
import { VIRTUAL_TIME_TIMEOUT_MS } from '@sipedge/test-utils';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Location } from '../location/location.js';
import { isValid } from '../model.js';
import { Registrar } from './registrar.js';

const T0 = Date.UTC(2026, 10, 23, 12);

const contactValue = fc.oneof(
  fc.constant('*'),
  fc
    .record({
      user: fc.constantFrom('a', 'b', 'c', 'A'),
      host: fc.constantFrom('192.0.2.1', '192.0.2.2', 'EXAMPLE.net'),
      expires: fc.option(
        fc.oneof(fc.nat(5000).map(String), fc.constantFrom('0', 'x', '', '99999999999999')),
        { nil: undefined },
      ),
      q: fc.option(fc.constantFrom('0.5', '1', '2', 'abc'), { nil: undefined }),
      inst: fc.boolean(),
    })
    .map(({ user, host, expires, q, inst }) => {
      let s = `<sip:${user}@${host}>`;
      if (expires !== undefined) s += `;expires=${expires}`;
      if (q !== undefined) s += `;q=${q}`;
      if (inst) s += ';+sip.instance="<urn:uuid:1>";reg-id=1';
      return s;
    }),
  fc.constantFrom('<sip:broken', 'sip:x@y, <', '"unterminated <sip:a@b>', '<>'),
);

const registerArb = fc.record({
  callId: fc.constantFrom('c1', 'c2'),
  cseq: fc.integer({ min: 1, max: 6 }),
  contacts: fc.array(contactValue, { maxLength: 4 }),
  expires: fc.option(fc.constantFrom('0', '30', '3600', 'junk'), { nil: undefined }),
  path: fc.constantFrom('', 'Path: <sip:edge;lr>\r\n', 'Path: <sip:edge>\r\n', 'Path: <broken\r\n'),
  supported: fc.boolean(),
  advance: fc.nat(100_000),
});

describe('Registrar under random REGISTERs', { timeout: VIRTUAL_TIME_TIMEOUT_MS }, () => {
  it('always answers with a final response and keeps memory and store consistent', () => {
    fc.assert(
      fc.property(fc.array(registerArb, { minLength: 1, maxLength: 20 }), (regs) => {
        const clock = new VirtualClock(T0);
        const location = new Location({ clock });
        const registrar = new Registrar(location, {
          maxContacts: 3,
          maxContactsMode: 'replace-oldest',
        });
        for (const r of regs) {
          clock.advance(r.advance);
          const text =
            'REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKf\r\n' +
            'To: <sip:alice@example.com>\r\nFrom: <sip:alice@example.com>;tag=1\r\n' +
            `Call-ID: ${r.callId}\r\nCSeq: ${r.cseq} REGISTER\r\n` +
            (r.supported ? 'Supported: path\r\n' : '') +
            r.path +
            (r.expires === undefined ? '' : `Expires: ${r.expires}\r\n`) +
            r.contacts.map((c) => `Contact: ${c}\r\n`).join('') +
            'Content-Length: 0\r\n\r\n';
          const res = registrar.save(parseMessage(Buffer.from(text)));
          expect(res.status).toBeGreaterThanOrEqual(200);
          expect(res.status).toBeLessThan(600);
          const now = clock.now();
          const valid = location.contacts('alice@example.com').filter((c) => isValid(c, now));
          if (res.status === 200) expect(res.values('contact')).toHaveLength(valid.length);
          expect(valid.length).toBeLessThanOrEqual(3);
          expect(new Set(valid.map((c) => c.id)).size).toBe(valid.length);
        }
      }),
      { numRuns: 300 },
    );
  });
});
