import { describe, expect, it } from 'vitest';
import { ReplyCache, senderCookieHash } from './reply-cache.js';

const h = (cookie: string, port = 5060, address = '127.0.0.1') =>
  senderCookieHash(address, port, cookie);

describe('ReplyCache', () => {
  it('marks a command in progress, then holds its reply', () => {
    const c = new ReplyCache(30_000, 100, 0);
    expect(c.lookup(h('a'), 'a', 0)).toBeUndefined();
    const t = c.begin(h('a'), 'a', 0);
    expect(c.lookup(h('a'), 'a', 1)).toBeNull();
    c.complete(h('a'), 'a 0\n', t);
    expect(c.lookup(h('a'), 'a', 2)).toBe('a 0\n');
    expect(c.size).toBe(1);
  });

  it('keeps a reply at least ttl and at most twice ttl', () => {
    const c = new ReplyCache(1000, 100, 0);
    c.complete(h('early'), 'early x', c.begin(h('early'), 'early', 0));
    c.complete(h('late'), 'late y', c.begin(h('late'), 'late', 999));
    expect(c.lookup(h('early'), 'early', 1000)).toBe('early x'); // rotated once: still there
    expect(c.lookup(h('late'), 'late', 1998)).toBe('late y'); // 999 ms old
    expect(c.lookup(h('early'), 'early', 1999)).toBe('early x'); // 1999 ms old
    expect(c.lookup(h('late'), 'late', 2000)).toBeUndefined(); // second rotation: 1001 ms old
    expect(c.lookup(h('early'), 'early', 2000)).toBeUndefined();
  });

  it('drops everything after two idle periods', () => {
    const c = new ReplyCache(1000, 100, 0);
    c.complete(h('a'), 'a x', c.begin(h('a'), 'a', 10));
    expect(c.lookup(h('a'), 'a', 5000)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('a reply completed after a rotation is found once, in the current generation', () => {
    const c = new ReplyCache(1000, 100, 0);
    const t = c.begin(h('a'), 'a', 900);
    expect(c.lookup(h('b'), 'b', 1000)).toBeUndefined(); // rotates: 'a' is now previous
    expect(c.lookup(h('a'), 'a', 1000)).toBeNull();
    c.complete(h('a'), 'a done', t);
    expect(c.size).toBe(1);
    expect(c.lookup(h('a'), 'a', 1900)).toBe('a done');
  });

  it('never holds more than maxEntries', () => {
    const c = new ReplyCache(60_000, 10, 0);
    for (let i = 0; i < 1000; i++) {
      c.complete(h(`k${i}`), `k${i} r`, c.begin(h(`k${i}`), `k${i}`, i));
      expect(c.size).toBeLessThanOrEqual(10);
    }
    expect(c.lookup(h('k999'), 'k999', 1000)).toBe('k999 r');
    expect(c.lookup(h('k0'), 'k0', 1000)).toBeUndefined();
  });

  it('finds replies in either generation among many, and bounds commands never completed', () => {
    const c = new ReplyCache(60_000, 2_000, 0);
    for (let i = 0; i < 1_500; i++)
      c.complete(h(`k${i}`), `k${i} r${i}`, c.begin(h(`k${i}`), `k${i}`, i));
    // 1,000 rotated into the previous generation, 500 in the current one
    for (const i of [0, 999, 1_000, 1_499])
      expect(c.lookup(h(`k${i}`), `k${i}`, 2_000)).toBe(`k${i} r${i}`);
    for (let i = 1_500; i < 1_600; i++)
      expect(c.lookup(h(`k${i}`), `k${i}`, 2_000)).toBeUndefined();
    for (let i = 0; i < 5_000; i++) c.begin(h(`lost${i}`), `lost${i}`, 3_000);
    expect(c.size).toBeLessThanOrEqual(3_000); // 2,000 replies, and at most 1,000 in flight
    expect(c.lookup(h('k1499'), 'k1499', 3_000)).toBe('k1499 r1499');
  });

  it('checks the cookie, so a hash collision is a miss and never another reply', () => {
    const c = new ReplyCache(1000, 100, 0);
    c.complete(42, 'abc 35000 127.0.0.1\n', c.begin(42, 'abc', 0));
    expect(c.lookup(42, 'abc', 1)).toBe('abc 35000 127.0.0.1\n');
    expect(c.lookup(42, 'ab', 1)).toBeUndefined(); // a prefix of the cookie is not the cookie
    expect(c.lookup(42, 'abd', 1)).toBeUndefined();
    c.begin(43, 'x', 2);
    expect(c.lookup(43, 'y', 3)).toBeUndefined(); // in progress for another cookie
  });
});

describe('senderCookieHash', () => {
  it('separates senders and cookies and stays a small integer', () => {
    const hashes = new Set<number>();
    for (const address of ['127.0.0.1', '127.0.0.2', '::1']) {
      for (const port of [5060, 5061, 1 << 15]) {
        for (const cookie of ['8760_4', '8760_5', '24594_4726_12']) {
          const v = senderCookieHash(address, port, cookie);
          expect(Number.isInteger(v) && v >= 0 && v < 2 ** 30).toBe(true);
          hashes.add(v);
        }
      }
    }
    expect(hashes.size).toBe(27);
  });

  it('stores a reply given as bytes, and a newer reply for the same sender and cookie wins', () => {
    const c = new ReplyCache(1000, 100, 0);
    c.complete(h('b'), Buffer.from('b 40000\n', 'latin1'), c.begin(h('b'), 'b', 0));
    expect(c.lookup(h('b'), 'b', 1)).toBe('b 40000\n');
    c.complete(h('b'), 'b 40002\n', c.begin(h('b'), 'b', 2));
    expect(c.lookup(h('b'), 'b', 3)).toBe('b 40002\n');
    expect(c.size).toBe(1);
    // latin1 text above 0x7f comes back unchanged
    c.complete(h('é'), 'é E8\n', c.begin(h('é'), 'é', 4));
    expect(c.lookup(h('é'), 'é', 5)).toBe('é E8\n');
  });

  it('agrees with a plain two-generation model over a long random run', () => {
    // the model: the same rotation rules over Maps of strings
    let seed = 7;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed % n;
    };
    const ttl = 500;
    const half = 64;
    const c = new ReplyCache(ttl, half * 2, 0);
    let current = new Map<number, string>();
    let previous = new Map<number, string>();
    let rotateAt = ttl;
    const rotate = (now: number, full: boolean) => {
      if (!full && now >= rotateAt + ttl) current = new Map();
      previous = current;
      current = new Map();
      if (!full) rotateAt = now + ttl;
    };
    let now = 0;
    for (let i = 0; i < 20_000; i++) {
      now += rnd(3);
      const cookie = `c${rnd(300)}`;
      const key = h(cookie, 5000 + rnd(2));
      if (now >= rotateAt) rotate(now, false);
      const want = current.get(key) ?? previous.get(key);
      expect(c.lookup(key, cookie, now)).toBe(want);
      if (want === undefined && rnd(2) === 0) {
        const reply = `${cookie} ${rnd(65536)}\n`;
        c.complete(key, reply, c.begin(key, cookie, now));
        current.set(key, reply);
        if (current.size >= half) rotate(now, true);
      }
    }
  });
});
