import { describe, expect, it } from 'vitest';
import { RtppLineDecoder } from './stream.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function decodeAll(chunks: string[], keepBlank = false, maxLine?: number) {
  const d = new RtppLineDecoder(maxLine === undefined ? { keepBlank } : { keepBlank, maxLine });
  const lines: string[] = [];
  for (const c of chunks) {
    const r = d.push(b(c));
    lines.push(...r.lines);
    if (!r.ok) return { lines, failed: true };
  }
  return { lines, failed: false, pending: d.pending };
}

describe('RtppLineDecoder', () => {
  const input =
    'V\r\nVF 20050322\n\n  \r\nUc0 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1\nD c f t\n';
  const expected = [
    'V',
    'VF 20050322',
    'Uc0 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1',
    'D c f t',
  ];

  it('splits lines, accepts CRLF, skips blank lines', () => {
    expect(decodeAll([input]).lines).toEqual(expected);
  });

  it('gives the same lines when the input is split at every offset', () => {
    for (let i = 0; i <= input.length; i++) {
      expect(decodeAll([input.slice(0, i), input.slice(i)]).lines, `split at ${i}`).toEqual(
        expected,
      );
    }
    for (let i = 0; i <= input.length; i++) {
      for (let j = i; j <= input.length; j += 7) {
        const parts = [input.slice(0, i), input.slice(i, j), input.slice(j)];
        expect(decodeAll(parts).lines, `split at ${i},${j}`).toEqual(expected);
      }
    }
    expect(decodeAll([...input]).lines).toEqual(expected);
  });

  it('holds an unfinished line until its newline', () => {
    const d = new RtppLineDecoder();
    expect(d.push(b('VF 2005')).lines).toEqual([]);
    expect(d.pending).toBe(7);
    expect(d.push(b('0322\r')).lines).toEqual([]);
    expect(d.push(b('\n')).lines).toEqual(['VF 20050322']);
    expect(d.pending).toBe(0);
  });

  it('keeps blank lines when asked (an empty G reply)', () => {
    expect(decodeAll(['20040107\n\n1\r\n'], true).lines).toEqual(['20040107', '', '1']);
  });

  it('fails on a line over the limit, whether or not its newline came', () => {
    expect(decodeAll(['12345\n123456\n'], false, 5)).toEqual({ lines: ['12345'], failed: true });
    expect(decodeAll(['1234', '56'], false, 5)).toEqual({ lines: [], failed: true });
    expect(decodeAll(['12345'], false, 5)).toEqual({ lines: [], failed: false, pending: 5 });
    const d = new RtppLineDecoder({ maxLine: 3 });
    expect(d.push(b('abcd')).ok).toBe(false);
    expect(d.push(b('\nV\n'))).toEqual({ ok: false, lines: [], size: 0 });
  });

  it('enforces the 8 KiB default', () => {
    const d = new RtppLineDecoder();
    expect(d.push(Buffer.alloc(8192, 65)).ok).toBe(true);
    expect(d.push(b('A')).ok).toBe(false);
  });
});
