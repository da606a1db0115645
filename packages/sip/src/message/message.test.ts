import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SipParseError } from '../errors.js';
import { createResponse } from './create-message.js';
import { SipMessage } from './message.js';
import { parseMessage } from './parse-message.js';
import { validateMessage } from './validate-message.js';

export const INVITE = Buffer.from(
  [
    'INVITE sip:bob@biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport',
    'Max-Forwards: 70',
    'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
    'To: Bob <sip:bob@biloxi.example.com>',
    'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
    'CSeq: 314159 INVITE',
    'Contact: <sip:alice@pc33.atlanta.example.com>',
    'Content-Type: application/sdp',
    'Content-Length: 4',
    '',
    'v=0\n',
  ].join('\r\n'),
  'latin1',
);

function lines(m: SipMessage): string[] {
  return m.toString().split('\r\n');
}

describe('SipMessage', () => {
  it('parses and keeps the original bytes while untouched', () => {
    const m = parseMessage(INVITE);
    expect(m.isRequest).toBe(true);
    expect(m.method).toBe('INVITE');
    expect(m.requestUri).toBe('sip:bob@biloxi.example.com');
    expect(m.toBuffer()).toBe(INVITE);
    expect(m.callId()).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(m.values('route')).toEqual(['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    expect(m.body.toString()).toBe('v=0\n');
    expect(() => validateMessage(m)).not.toThrow();
  });

  it('removes the first Route element by rewriting only its row', () => {
    const m = parseMessage(INVITE);
    expect(m.removeTopRoute()).toBe('<sip:p1.example.com;lr>');
    expect(m.untouched).toBe(false);
    const before = INVITE.toString('latin1').split('\r\n');
    const after = lines(m);
    expect(after.length).toBe(before.length);
    const changed = before.map((l, i) => (l === after[i] ? -1 : i)).filter((i) => i >= 0);
    expect(changed).toEqual([3]);
    expect(after[3]).toBe('Route: <sip:p2.example.com;lr>');
    m.removeTopRoute();
    expect(m.has('route')).toBe(false);
  });

  it('prepends a Via above the first Via and round-trips the result', () => {
    const m = parseMessage(INVITE);
    m.prependVia('SIP/2.0/UDP proxy.example.com;branch=z9hG4bKnew');
    const again = parseMessage(m.toBuffer());
    expect(again.vias().map((v) => v.branch)).toEqual(['z9hG4bKnew', 'z9hG4bK776asdhds']);
    expect(again.topVia()?.host).toBe('proxy.example.com');
    expect(again.removeTopVia()).toBe('SIP/2.0/UDP proxy.example.com;branch=z9hG4bKnew');
    expect(again.toBuffer().equals(INVITE)).toBe(true);
  });

  it('sets a body and its Content-Length', () => {
    const m = parseMessage(INVITE);
    m.setBody(Buffer.from('hello'));
    const again = parseMessage(m.toBuffer());
    expect(again.contentLength()).toBe(5);
    expect(again.body.toString()).toBe('hello');
  });

  it('builds a response copying Via, From, Call-ID, CSeq byte for byte and tagging To', () => {
    const req = parseMessage(INVITE);
    const res = createResponse(req, 180, 'Ringing', { toTag: 'abc' });
    const p = parseMessage(res.toBuffer());
    expect(p.status).toBe(180);
    expect(p.toTag()).toBe('abc');
    expect(p.rows('via')[0]?.raw).toBe(req.rows('via')[0]?.raw);
    expect(p.cseq()).toEqual({ seq: 314159, method: 'INVITE' });
  });

  it('answers a request whose To does not parse: that To is copied as it is, untagged', () => {
    const req = parseMessage(
      Buffer.from(
        'OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\nTo: <>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
      ),
    );
    const res = createResponse(req, 400, 'Bad Request (header-repeated)', { toTag: 'abc' });
    expect(res.rows('to').map((r) => r.value)).toEqual(['<sip:x@example.com>;tag=abc', '<>']);
  });

  it('a malformed Contact expires counts as 3600 and a huge one as 2**32-1 (RFC 3261 §20.19)', () => {
    const m = parseMessage(
      Buffer.from(
        'REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContact: <sip:a@192.0.2.1>;expires=soon\r\nContact: <sip:b@192.0.2.1>;expires=99999999999999999999\r\nContent-Length: 0\r\n\r\n',
      ),
    );
    expect(() => validateMessage(m)).not.toThrow();
    expect(m.contacts().map((c) => c.expires)).toEqual([3600, 2 ** 32 - 1]);
  });

  it('reads Contact parameters (expires, q, +sip.instance, reg-id) and *', () => {
    const m = parseMessage(
      Buffer.from(
        'REGISTER sip:example.com SIP/2.0\r\nContact: <sip:a@192.0.2.1:5060;ob>;expires=600;q=0.5;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1\r\nContact: *\r\nExpires: 0\r\nMin-Expires: 60\r\nSupported: path, outbound\r\nRequire: path\r\nPath: <sip:edge.example.com;lr>\r\n\r\n',
      ),
    );
    const [c, star] = m.contacts();
    expect(c).toMatchObject({
      expires: 600,
      q: 0.5,
      instance: 'urn:uuid:00000000-0000-1000-8000-000A95A0E128',
      regId: 1,
    });
    expect(star?.star).toBe(true);
    expect(m.expires()).toBe(0);
    expect(m.minExpires()).toBe(60);
    expect(m.supported()).toEqual(['path', 'outbound']);
    expect(m.require()).toEqual(['path']);
    expect(m.paths()[0]?.uri).toBe('sip:edge.example.com;lr');
  });

  it('refuses oversize messages and too many rows', () => {
    const big = Buffer.alloc(70_000, 0x41);
    expect(() => parseMessage(big)).toThrow(SipParseError);
    const many = Buffer.from(`OPTIONS sip:x SIP/2.0\r\n${'X: y\r\n'.repeat(300)}\r\n`);
    try {
      parseMessage(many);
      expect.unreachable();
    } catch (e) {
      expect((e as SipParseError).status).toBe(513);
    }
  });
});

// ---- properties ----------------------------------------------------------------------------

const token = fc
  .stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/)
  .filter((n) => !['l', 'content-length'].includes(n.toLowerCase()));
const value = fc.stringMatching(/^[ -~]{0,30}$/).map((s) => s.replace(/[:\r\n]/g, 'x').trim());
const headerRow = fc.tuple(token, value).map(([n, v]) => `${n}: ${v}`);

const message = fc
  .tuple(fc.array(headerRow, { maxLength: 12 }), fc.uint8Array({ maxLength: 40 }))
  .map(([rows, body]) => {
    const head = [
      'MESSAGE sip:u@example.com SIP/2.0',
      'Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1',
      ...rows,
      `Content-Length: ${body.length}`,
      '',
      '',
    ].join('\r\n');
    return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
  });

describe('properties', () => {
  it('an untouched message re-serialises byte for byte (also after a forced rebuild)', () => {
    fc.assert(
      fc.property(message, (buf) => {
        const m = parseMessage(buf);
        expect(m.toBuffer().equals(buf)).toBe(true);
        // set then restore a header: the rebuilt message must still equal the input
        const cl = m.rows('content-length')[0]!;
        m.setHeader('Content-Length', cl.value);
        m.headers[m.headers.findIndex((h) => h.key === 'content-length')] = cl;
        expect(m.toBuffer().equals(buf)).toBe(true);
      }),
    );
  });

  it('an edit changes only the rows it names', () => {
    fc.assert(
      fc.property(
        message,
        fc.constantFrom('via', 'route', 'record-route', 'path'),
        (buf, which) => {
          const m = parseMessage(buf);
          const before = m.toString().split('\r\n');
          m.prependHeader(which, '<sip:added.example.com;lr>');
          const after = m.toString().split('\r\n');
          expect(after.length).toBe(before.length + 1);
          const idx = after.findIndex((l) => l.endsWith('<sip:added.example.com;lr>'));
          after.splice(idx, 1);
          expect(after).toEqual(before);
        },
      ),
    );
  });

  it('random and mutated input never throws anything but SipParseError', () => {
    const mutated = fc
      .tuple(
        message,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      )
      .map(([buf, muts]) => {
        const b = Buffer.from(buf);
        for (const [at, byte] of muts) b[at % b.length] = byte;
        return b;
      });
    const input = fc.oneof(
      mutated,
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(input, (buf) => {
        try {
          const m = parseMessage(buf, { datagram: true });
          validateMessage(m);
          m.toBuffer();
        } catch (e) {
          if (!(e instanceof SipParseError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('SipMessage constructor', () => {
  it('rejects a bad start line', () => {
    expect(() => new SipMessage({ startLine: 'HELLO', headers: [] })).toThrow(SipParseError);
  });
});

describe('pathological input near the size limit', () => {
  const head =
    'OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n';
  const cases: Record<string, string> = {
    'separators in Via': `Via: ${'SIP/2.0/UDP h;;,'.repeat(3000)}\r\n`,
    'commas in Route': `Route: ${',<'.repeat(25_000)}\r\n`,
    'unbalanced quotes in Contact': `Contact: ${'"\\'.repeat(25_000)}\r\n`,
    'folding on every line': `X-Fold: a${'\r\n b'.repeat(12_000)}\r\n`,
    'long parameter chain': `Contact: <sip:a@b>${';p=v'.repeat(12_000)}\r\n`,
  };
  for (const [name, extra] of Object.entries(cases)) {
    it(`finishes with a result or a SipParseError: ${name}`, () => {
      const buf = Buffer.from(`${head}${extra}Content-Length: 0\r\n\r\n`, 'latin1');
      expect(buf.length).toBeLessThan(65_536);
      try {
        const m = parseMessage(buf);
        validateMessage(m);
        m.values('via');
        m.values('route');
        m.values('x-fold');
      } catch (e) {
        expect(e).toBeInstanceOf(SipParseError);
      }
    });
  }
});
