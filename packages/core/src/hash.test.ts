import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FNV1A_OFFSET, fnv1a, fnv1aBytes, fnv1aPair } from './hash.js';

describe('fnv1a', () => {
  // the published 32-bit FNV-1a test values
  it.each([
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ])('hashes %j to its published value', (s, expected) => {
    expect(fnv1a(s) >>> 0).toBe(expected);
  });

  it('returns a signed 32-bit integer', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const h = fnv1a(s);
        expect(h).toBe(h | 0);
      }),
    );
  });

  it('hashes a concatenation when one result seeds the next', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(fnv1a(b, fnv1a(a))).toBe(fnv1a(a + b));
      }),
    );
  });

  it('gives another hash for another seed', () => {
    expect(fnv1a('foobar', 0x9e3779b9)).not.toBe(fnv1a('foobar'));
    expect(fnv1a('', 0x9e3779b9)).toBe(0x9e3779b9 | 0);
  });
});

describe('fnv1aBytes', () => {
  it('hashes latin1 bytes as fnv1a hashes the same code units', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii' }), (s) => {
        expect(fnv1aBytes(Buffer.from(s, 'latin1'))).toBe(fnv1a(s));
      }),
    );
  });

  it('hashes only the range it is given', () => {
    const b = Buffer.from('xxfoobaryy', 'latin1');
    expect(fnv1aBytes(b, 2, 8) >>> 0).toBe(0xbf9cf968);
    expect(fnv1aBytes(b, 4, 4)).toBe(FNV1A_OFFSET | 0);
  });
});

describe('fnv1aPair', () => {
  it('is the unsigned hash with the usual seed and with the second seed', () => {
    expect(fnv1aPair('alice')).toEqual([fnv1a('alice') >>> 0, fnv1a('alice', 0x9e3779b9) >>> 0]);
    const [a, b] = fnv1aPair('x');
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThanOrEqual(0);
    expect(a).not.toBe(b);
  });
});
