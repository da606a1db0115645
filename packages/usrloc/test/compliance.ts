import { expect, it } from 'vitest';
import type { ContactStore } from '../src/store/store.js';
import { bareOf, sampleContact } from './contacts.js';

export interface StoreFactory {
  /** A new, empty store. */
  create(): ContactStore;
  /** Close `store` and open the same storage again (persistent backends only). */
  reopen?(store: ContactStore): ContactStore;
}

/** The compliance suite every `ContactStore` backend runs. Call inside a `describe`. */
export function contactStoreCompliance(factory: StoreFactory): void {
  it('round-trips every field, nulls and empty Path included', () => {
    const s = factory.create();
    const full = sampleContact('c1');
    const bare = { ...bareOf(sampleContact('c2')), params: '' };
    s.write({ put: [full, bare], del: [] });
    const got = new Map(s.load().map((c) => [c.id, c]));
    expect(got.get('c1')).toEqual(full);
    expect(got.get('c2')).toEqual(bare);
    s.close();
  });

  it('keeps the OpenSIPS-only fields of a binding an OpenSIPS node wrote', () => {
    const s = factory.create();
    const c = sampleContact('os-1', {
      opensips: {
        domain: 'location',
        contactId: '3170534137668829187',
        attr: 'vip-customer',
        flags: 1,
        cflags: 'NAT SIPPING',
        methods: 31,
        path: '<sip:edge.example.com;lr>',
        instance: '<urn:uuid:1>',
        kvStore: '{"tenant":"t1"}',
      },
    });
    s.write({ put: [c], del: [] });
    s.flush();
    expect(s.load()).toEqual([c]);
    s.close();
  });

  it('a put of an existing id replaces it; a delete of an unknown id is a no-op', () => {
    const s = factory.create();
    s.write({ put: [sampleContact('c1')], del: [] });
    s.write({ put: [sampleContact('c1', { cseq: 2 })], del: ['nope'] });
    expect(s.load().map((c) => [c.id, c.cseq])).toEqual([['c1', 2]]);
    s.close();
  });

  it('applies puts and deletes of one batch together', () => {
    const s = factory.create();
    s.write({ put: [sampleContact('a'), sampleContact('b')], del: [] });
    s.write({ put: [sampleContact('c')], del: ['a'] });
    expect(
      s
        .load()
        .map((c) => c.id)
        .sort(),
    ).toEqual(['b', 'c']);
    s.close();
  });

  it('a batch with a broken record writes nothing of the batch', () => {
    const s = factory.create();
    s.write({ put: [sampleContact('a')], del: [] });
    const broken = { ...sampleContact('x'), aor: '' };
    expect(() => s.write({ put: [sampleContact('b'), broken], del: ['a'] })).toThrow();
    s.flush();
    expect(s.load().map((c) => c.id)).toEqual(['a']);
    s.close();
  });

  if (factory.reopen !== undefined) {
    const reopen = factory.reopen;
    it('everything written is there after a reopen', () => {
      const s = factory.create();
      const many = Array.from({ length: 500 }, (_, i) =>
        sampleContact(`id${i}`, { aor: `u${i % 50}@example.com` }),
      );
      s.write({ put: many, del: [] });
      s.write({ put: [], del: ['id0', 'id1'] });
      const again = reopen(s);
      const got = again.load();
      expect(got).toHaveLength(498);
      expect(got.find((c) => c.id === 'id42')).toEqual(many[42]);
      again.close();
    });
  }
}
