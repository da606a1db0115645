import { describe, expect, it } from 'vitest';
import { SipParseError } from '../errors.js';
import { parseMessage } from './parse-message.js';
import { responseToUnparseable } from './unparseable.js';

const request = (rows: string[], method = 'OPTIONS') =>
  Buffer.from(
    [
      `${method} sip:x@example.com SIP/2.0`,
      'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa;rport',
      'v: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKbbb',
      'Max-Forwards: 70',
      'f: <sip:a@example.com>;tag=1',
      'To: <sip:x@example.com>',
      'Call-ID: c1@192.0.2.1',
      `CSeq: 7 ${method}`,
      ...rows,
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );

function parseError(buf: Buffer): SipParseError {
  try {
    parseMessage(buf, { datagram: true });
  } catch (e) {
    if (e instanceof SipParseError) return e;
  }
  throw new Error('expected a SipParseError');
}

describe('responseToUnparseable', () => {
  it('answers a request with a broken row 400, copying the rows a client matches on', () => {
    const buf = request(['this row has no colon', 'Content-Length: 0']);
    const e = parseError(buf);
    expect(e.reason).toBe('header-syntax');
    const out = responseToUnparseable(buf, e.status, e.reasonPhrase);
    const res = parseMessage(out!, { datagram: true });
    expect(res.status).toBe(400);
    expect(res.reason).toBe('Bad Request (header-syntax)');
    expect(res.values('via')).toEqual([
      'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa;rport',
      'SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKbbb',
    ]);
    expect(res.callId()).toBe('c1@192.0.2.1');
    expect(res.cseq()).toEqual({ seq: 7, method: 'OPTIONS' });
    expect(res.fromTag()).toBe('1');
    expect(res.toTag()).toMatch(/^[0-9a-f]{8}$/);
  });

  it('keeps a To tag that is there, and unfolds folded rows', () => {
    const buf = Buffer.from(
      'INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;\r\n branch=z9hG4bKf\r\nFrom: <sip:a@b>;tag=2\r\nTo: <sip:x@b>;tag=9\r\nCall-ID: f\r\nCSeq: 1 INVITE\r\nContent-Length: abc\r\n\r\n',
      'latin1',
    );
    const res = parseMessage(responseToUnparseable(buf, 400, 'Bad Request (content-length)')!);
    expect(res.topVia()?.branch).toBe('z9hG4bKf');
    expect(res.toTag()).toBe('9');
  });

  it('answers nothing to an ACK, a response, or a request missing a row it must copy', () => {
    expect(responseToUnparseable(request(['bad row'], 'ACK'), 400, 'x')).toBeUndefined();
    expect(
      responseToUnparseable(Buffer.from('SIP/2.0 200 OK\r\nbad\r\n\r\n'), 400, 'x'),
    ).toBeUndefined();
    expect(
      responseToUnparseable(
        Buffer.from('OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nbad\r\n\r\n'),
        400,
        'x',
      ),
    ).toBeUndefined();
    expect(responseToUnparseable(Buffer.from('\x00\x01garbage'), 400, 'x')).toBeUndefined();
  });
});
