import { describe, expect, it } from 'vitest';
import {
  decodeCommandDatagram,
  decodeReplyDatagram,
  encodeCommandDatagram,
  encodeReplyDatagram,
  MAX_DATAGRAM,
} from './datagram.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('decodeCommandDatagram', () => {
  it('splits the cookie from the command (Kamailio capture, no newline)', () => {
    expect(decodeCommandDatagram(b('8763_1 VF 20050322'))).toEqual({
      kind: 'command',
      cookie: '8763_1',
      body: 'VF 20050322',
    });
  });

  it('trims blanks and a trailing CRLF, keeps inner text as sent', () => {
    expect(decodeCommandDatagram(b(' \tk1   U  c 1.2.3.4 5 ft\r\n'))).toEqual({
      kind: 'command',
      cookie: 'k1',
      body: 'U  c 1.2.3.4 5 ft',
    });
  });

  it('reads a bare V as the cookie V with no command (answer "V E5")', () => {
    expect(decodeCommandDatagram(b('V'))).toEqual({ kind: 'no-command', cookie: 'V' });
    expect(decodeCommandDatagram(b('abc  \n'))).toEqual({ kind: 'no-command', cookie: 'abc' });
  });

  it('reads blanks only as empty', () => {
    expect(decodeCommandDatagram(b(''))).toEqual({ kind: 'empty' });
    expect(decodeCommandDatagram(b(' \r\n\t'))).toEqual({ kind: 'empty' });
  });

  it('drops datagrams over the limit', () => {
    const full = Buffer.alloc(MAX_DATAGRAM, 65);
    full[1] = 32;
    expect(decodeCommandDatagram(full).kind).toBe('command');
    expect(decodeCommandDatagram(Buffer.alloc(MAX_DATAGRAM + 1, 65))).toEqual({
      kind: 'oversize',
      size: MAX_DATAGRAM + 1,
    });
    expect(decodeCommandDatagram(b('k V'), 2).kind).toBe('oversize');
  });

  it('passes every byte value through (latin1)', () => {
    const bytes = Buffer.from([0x6b, 0x20, 0x44, 0x20, 0xc3, 0xa9, 0xff, 0x20, 0x74]);
    const f = decodeCommandDatagram(bytes);
    expect(f.kind).toBe('command');
    if (f.kind === 'command') expect(Buffer.from(`k ${f.body}`, 'latin1')).toEqual(bytes);
  });

  it('works on a view into a larger buffer', () => {
    const big = b('xxxxk2 Vyyyy');
    expect(decodeCommandDatagram(big.subarray(4, 8))).toEqual({
      kind: 'command',
      cookie: 'k2',
      body: 'V',
    });
  });
});

describe('reply datagrams', () => {
  it('encodes "<cookie> <body>" and decodes it back', () => {
    const buf = encodeReplyDatagram('8760_4', '35000 127.0.0.1\n');
    expect(buf.toString()).toBe('8760_4 35000 127.0.0.1\n');
    expect(decodeReplyDatagram(buf)).toEqual({ cookie: '8760_4', body: '35000 127.0.0.1\n' });
    expect(encodeReplyDatagram(undefined, 'E5\n').toString()).toBe('E5\n');
  });

  it('keeps a multi-line body intact', () => {
    const r = decodeReplyDatagram(b('c sessions created: 1\nactive sessions: 0\n'));
    expect(r?.body).toBe('sessions created: 1\nactive sessions: 0\n');
  });

  it('rejects replies without a body', () => {
    expect(decodeReplyDatagram(b('cookieonly'))).toBeUndefined();
    expect(decodeReplyDatagram(b(' leading'))).toBeUndefined();
    expect(decodeReplyDatagram(b(''))).toBeUndefined();
  });

  it('encodes commands without a newline, as Kamailio does', () => {
    expect(encodeCommandDatagram('k1', 'V').toString()).toBe('k1 V');
  });
});
