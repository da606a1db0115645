import { describe, expect, it } from 'vitest';
import { literalFirstLookup } from './lookup.js';

/** Looks `address` up; `sync` says whether the answer came before the call returned. */
function lookup(address: string): { sync: boolean; result: Promise<[string, number]> } {
  let answered = false;
  const result = new Promise<[string, number]>((resolve, reject) => {
    literalFirstLookup(address, 0, (err, a, family) => {
      answered = true;
      if (err !== null) reject(err);
      else resolve([a, family]);
    });
  });
  return { sync: answered, result };
}

describe('literalFirstLookup', () => {
  it('answers IP literals in the same tick, the same one twice in a row too', async () => {
    for (const [address, family] of [
      ['192.0.2.7', 4],
      ['192.0.2.7', 4],
      ['2001:db8::1', 6],
      ['192.0.2.7', 4],
    ] as const) {
      const r = lookup(address);
      expect(await r.result).toEqual([address, family]);
      expect(r.sync).toBe(true);
    }
  });

  it('passes names to dns.lookup', async () => {
    const r = lookup('localhost');
    const [address, family] = await r.result;
    expect(r.sync).toBe(false);
    expect([4, 6]).toContain(family);
    expect(address).toMatch(/^(127\.|::1$)/);
  });
});
