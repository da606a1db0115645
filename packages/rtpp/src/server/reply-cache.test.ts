import { describe, expect, it } from 'vitest';
import { ReplyCache } from './reply-cache.js';

describe('ReplyCache', () => {
  it('marks a command in progress, then holds its reply', () => {
    const c = new ReplyCache(30_000, 100, 0);
    expect(c.lookup('a', 0)).toBeUndefined();
    const t = c.begin('a', 0);
    expect(c.lookup('a', 1)).toBeNull();
    c.complete('a', 'a 0\n', t);
    expect(c.lookup('a', 2)).toBe('a 0\n');
    expect(c.size).toBe(1);
  });

  it('keeps a reply at least ttl and at most twice ttl', () => {
    const c = new ReplyCache(1000, 100, 0);
    c.complete('early', 'x', c.begin('early', 0));
    c.complete('late', 'y', c.begin('late', 999));
    expect(c.lookup('early', 1000)).toBe('x'); // rotated once: still there
    expect(c.lookup('late', 1998)).toBe('y'); // 999 ms old
    expect(c.lookup('early', 1999)).toBe('x'); // 1999 ms old
    expect(c.lookup('late', 2000)).toBeUndefined(); // second rotation: 1001 ms old, gone
    expect(c.lookup('early', 2000)).toBeUndefined();
  });

  it('drops everything after two idle periods', () => {
    const c = new ReplyCache(1000, 100, 0);
    c.complete('a', 'x', c.begin('a', 10));
    expect(c.lookup('a', 5000)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('a reply completed after a rotation is found once, in the current generation', () => {
    const c = new ReplyCache(1000, 100, 0);
    const t = c.begin('a', 900);
    expect(c.lookup('b', 1000)).toBeUndefined(); // rotates: 'a' (in progress) is now previous
    expect(c.lookup('a', 1000)).toBeNull();
    c.complete('a', 'done', t);
    expect(c.size).toBe(1);
    expect(c.lookup('a', 1900)).toBe('done');
  });

  it('never holds more than maxEntries', () => {
    const c = new ReplyCache(60_000, 10, 0);
    for (let i = 0; i < 1000; i++) {
      c.complete(`k${i}`, 'r', c.begin(`k${i}`, i));
      expect(c.size).toBeLessThanOrEqual(10);
    }
    expect(c.lookup('k999', 1000)).toBe('r');
    expect(c.lookup('k0', 1000)).toBeUndefined();
  });
});
