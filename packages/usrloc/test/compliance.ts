import { expect, it } from 'vitest';
import type { ContactRecord } from '../src/model.js';
import type { ContactStore } from '../src/store/store.js';

/** A record with every field set, for round-trip checks. */
export function sampleContact(id: string, over: Partial<ContactRecord> = {}): ContactRecord {
  return {
    id,
    aor: 'alice@example.com',
    uri: `sip:alice@192.0.2.1:5060;transport=udp;x=${id}`,
    params: ';+sip.instance="<urn:uuid:1>";reg-id=1',
    received: 'sip:198.51.100.1:40000',
    path: ['<sip:edge1.example.com;lr;received=sip:198.51.100.1%3A40000>', '<sip:edge2;lr>'],
    expires: 1_795_000_000_123,
    q: 0.5,
    callId: 'a84b4c76e66710@pc33',
    cseq: 314159,
    flags: 3,
    userAgent: 'Phone/1.0',
    socket: 'udp:10.0.0.1:5060',
    methods: 'INVITE,ACK,BYE',
    instance: 'urn:uuid:1',
    regId: 1,
    lastModified: 1_794_999_000_456,
    nodeId: 7,
    shtag: 'vip',
    ...over,
  };
}

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
    const bare = sampleContact('c2', {
      received: null,
      path: [],
      q: null,
      userAgent: null,
      socket: null,
      methods: null,
      instance: null,
      regId: null,
      shtag: null,
      params: '',
      expires: 0,
    });
    s.write({ put: [full, bare], del: [] });
    const got = new Map(s.load().map((c) => [c.id, c]));
    expect(got.get('c1')).toEqual(full);
    expect(got.get('c2')).toEqual(bare);
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
