import { describe, expect, it } from 'vitest';
import { bareOf } from '../../test/contacts.js';
import type { TombstoneEntry } from '../location/tombstones.js';
import type { ContactRecord } from '../model.js';
import { ReplDecodeError, ReplWriter } from './bytes.js';
import {
  decodeChange,
  decodeSyncChunk,
  decodeSyncItem,
  encodeChange,
  encodeSyncRecord,
  encodeSyncTombstone,
  PacketType,
  SyncBatchEncoder,
} from './codec.js';

const T0 = Date.UTC(2026, 10, 23, 12);

const full: ContactRecord = {
  id: '2-abc-1',
  aor: 'alice@example.com',
  uri: 'sip:alice@192.0.2.1:5060;transport=tcp',
  params: ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-000a95a0e128>";reg-id=1',
  received: 'sip:198.51.100.7:40312',
  path: ['<sip:edge1.example.com;lr>', '<sip:edge2.example.com;lr;ob>'],
  expires: T0 + 3_600_000,
  q: 0.7,
  callId: 'c1@192.0.2.1',
  cseq: 4_000_000_000,
  flags: 3,
  userAgent: 'Ünïcode UA/1.0',
  socket: 'udp:10.0.0.1:5060',
  methods: 'INVITE,BYE',
  instance: 'urn:uuid:00000000-0000-1000-8000-000a95a0e128',
  regId: 1,
  lastModified: T0 + 17,
  nodeId: 2,
  shtag: 'vip',
};
const bare = bareOf(full);
const OPENSIPS = {
  domain: 'location',
  contactId: '3170534137668829187',
  attr: 'vïp',
  flags: 1,
  cflags: 'NAT',
  methods: 31,
  path: '<sip:edge1.example.com;lr>,<sip:edge2.example.com;lr;ob>',
  instance: '<urn:uuid:00000000-0000-1000-8000-000a95a0e128>',
  kvStore: '{"tenant":"t1"}',
};

describe('usrloc replication codec', () => {
  it('round-trips changes with every field set and with every optional field null', () => {
    const w = new ReplWriter();
    for (const c of [full, bare]) {
      const body = encodeChange(w, { domain: 'location', contact: c, at: T0 + 20, nodeId: 2 });
      expect(decodeChange(PacketType.UPDATE, body)).toEqual({
        type: PacketType.UPDATE,
        domain: 'location',
        contact: c,
        at: T0 + 20,
        nodeId: 2,
      });
    }
  });

  it('round-trips sync records and tombstones', () => {
    const w = new ReplWriter();
    expect(decodeSyncItem(encodeSyncRecord(w, full))).toEqual({ kind: 'record', contact: full });
    const t = {
      id: 'x',
      aor: 'bob@example.com',
      callId: 'c',
      cseq: 9,
      at: T0,
      nodeId: 3,
      deletedAt: T0 + 5,
    };
    expect(decodeSyncItem(encodeSyncTombstone(w, t))).toEqual({ kind: 'tombstone', tombstone: t });
  });

  it('carries the OpenSIPS-only fields of a binding in packets and sync items', () => {
    const w = new ReplWriter();
    const c = { ...full, opensips: OPENSIPS };
    const body = encodeChange(w, { domain: 'location', contact: c, at: T0, nodeId: 2 });
    expect(decodeChange(PacketType.UPDATE, body).contact).toEqual(c);
    const item = decodeSyncItem(encodeSyncRecord(w, c));
    expect(item.kind === 'record' && item.contact).toEqual(c);
    // a binding without them is written as before
    const plain = encodeChange(w, { domain: 'location', contact: full, at: T0, nodeId: 2 });
    expect(body.subarray(0, plain.length)).toEqual(plain);
  });

  it('rejects truncated, padded, unknown and absurd input with ReplDecodeError', () => {
    const w = new ReplWriter();
    const body = encodeChange(w, { domain: 'location', contact: full, at: T0, nodeId: 2 });
    for (let n = 0; n < body.length; n += 7)
      expect(() => decodeChange(PacketType.INSERT, body.subarray(0, n))).toThrow(ReplDecodeError);
    // what follows the node id is a binding's OpenSIPS-only fields, or nothing
    expect(() => decodeChange(PacketType.INSERT, Buffer.concat([body, Buffer.from([0])]))).toThrow(
      ReplDecodeError,
    );
    const notJson = new ReplWriter().str('{x').take();
    expect(() => decodeChange(PacketType.INSERT, Buffer.concat([body, notJson]))).toThrow(
      'opensips fields are not JSON',
    );
    const extras = encodeChange(w, {
      domain: 'location',
      contact: { ...full, opensips: OPENSIPS },
      at: T0,
      nodeId: 2,
    });
    expect(() =>
      decodeChange(PacketType.INSERT, Buffer.concat([extras, Buffer.from([0])])),
    ).toThrow('trailing bytes');
    expect(() => decodeChange(1, body)).toThrow('unknown packet type 1');
    expect(() => decodeSyncItem(Buffer.from([9]))).toThrow('unknown sync item 9');
    const badQ = encodeChange(w, { domain: 'l', contact: { ...full, q: 7 }, at: T0, nodeId: 2 });
    expect(() => decodeChange(PacketType.INSERT, badQ)).toThrow('bad q');
    const badT = encodeChange(w, { domain: 'l', contact: full, at: Number.NaN, nodeId: 2 });
    expect(() => decodeChange(PacketType.INSERT, badT)).toThrow('bad change time');
    const noId = encodeChange(w, { domain: 'l', contact: { ...full, id: '' }, at: T0, nodeId: 2 });
    expect(() => decodeChange(PacketType.INSERT, noId)).toThrow('empty id or aor');
  });

  it('refuses to encode a string longer than a u16 length can carry', () => {
    const w = new ReplWriter();
    const huge = { ...full, userAgent: 'x'.repeat(70_000) };
    expect(() => encodeSyncRecord(w, huge)).toThrow(RangeError);
    // the writer is usable afterwards
    expect(decodeSyncItem(encodeSyncRecord(w, full))).toEqual({ kind: 'record', contact: full });
  });

  it('sync items cut from slabs stay intact while later items are written, across slabs', () => {
    const w = new ReplWriter();
    const items: [ContactRecord, Buffer][] = [];
    // ~300 bytes each: 2,000 items fill several 64 KiB slabs; the multi-byte UA and a long
    // URI now and then make items straddle a slab's end
    for (let i = 0; i < 2000; i++) {
      const c = {
        ...full,
        id: `2-abc-${i}`,
        uri: i % 97 === 0 ? `sip:alice@192.0.2.1;x=${'é'.repeat(5000)}` : `sip:a${i}@192.0.2.1`,
        cseq: i,
      };
      items.push([c, encodeSyncRecord(w, c)]);
      // live changes use the writer's other mode in between
      if (i % 10 === 0) encodeChange(w, { domain: 'l', contact: full, at: T0, nodeId: 2 });
    }
    for (const [c, b] of items) expect(decodeSyncItem(b)).toEqual({ kind: 'record', contact: c });
  });

  it('writes strings of every UTF-8 width and lone surrogates at the length it announces', () => {
    const w = new ReplWriter();
    for (const s of ['', 'a', 'é', '€', '😀', 'x\ud800y', '\udfff', 'aé€😀'.repeat(1000)]) {
      const c = { ...full, userAgent: s };
      const back = decodeSyncItem(encodeSyncRecord(w, c));
      expect(back).toEqual({
        kind: 'record',
        contact: { ...c, userAgent: Buffer.from(s, 'utf8').toString('utf8') },
      });
    }
  });

  describe('batch chunks', () => {
    function decodeAll(chunks: Buffer[]): ContactRecord[] {
      const out: ContactRecord[] = [];
      const tombs: TombstoneEntry[] = [];
      for (const ch of chunks)
        decodeSyncChunk(
          ch,
          (c) => out.push(c),
          (t) => tombs.push(t),
        );
      expect(tombs).toEqual([]);
      return out;
    }

    function encodeAll(records: ContactRecord[]): Buffer[] {
      const enc = new SyncBatchEncoder(new ReplWriter());
      const chunks: Buffer[] = [];
      for (const c of records) {
        const full = enc.add(c);
        if (full !== undefined) chunks.push(full);
      }
      const last = enc.flush();
      if (last !== undefined) chunks.push(last);
      return chunks;
    }

    it('round-trip every binding, shared fields null, repeated, many-hop and past the dictionary', () => {
      const records: ContactRecord[] = [];
      for (let i = 0; i < 1000; i++)
        records.push({
          ...(i % 3 === 0 ? bare : full),
          id: `2-abc-${i}`,
          // 400 distinct user agents: a batch's 253 dictionary entries run out, the rest inline
          userAgent: i % 3 === 0 ? null : `UA ${i % 400}`,
          path: i % 7 === 0 ? ['<sip:a;lr>', '<sip:b;lr>', '<sip:a;lr>'] : full.path.slice(0, 1),
        });
      const chunks = encodeAll(records);
      expect(chunks.length).toBeGreaterThan(1);
      expect(chunks.length).toBeLessThan(20);
      expect(decodeAll(chunks)).toEqual(records);
    });

    it('bindings from one batch share the strings and the one-hop Path array', () => {
      const one = { ...full, path: ['<sip:edge1.example.com;lr>'] };
      const [a, b] = decodeAll(encodeAll([one, { ...one, id: '2-abc-2' }]));
      expect(a?.userAgent).toBe(b?.userAgent);
      expect(a?.path).toBe(b?.path);
      expect(Object.isFrozen(a?.path)).toBe(true);
    });

    it('still reads single-record and tombstone chunks', () => {
      const w = new ReplWriter();
      const t = { id: 'x', aor: 'a@b', callId: 'c', cseq: 2, at: T0, nodeId: 3, deletedAt: T0 + 1 };
      const got: unknown[] = [];
      for (const ch of [encodeSyncRecord(w, full), encodeSyncTombstone(w, t)])
        decodeSyncChunk(
          ch,
          (c) => got.push(c),
          (x) => got.push(x),
        );
      expect(got).toEqual([full, t]);
    });

    it('rejects bad references, an empty batch and a truncated record', () => {
      const [chunk] = encodeAll([full]);
      if (chunk === undefined) throw new Error('no chunk');
      const noop = (): void => {};
      expect(() => decodeSyncChunk(Buffer.from([3]), noop, noop)).toThrow(ReplDecodeError);
      expect(() => decodeSyncChunk(chunk.subarray(0, chunk.length - 3), noop, noop)).toThrow(
        ReplDecodeError,
      );
      // the first shared field (params) refers to entry 0 before any entry exists
      const w = new ReplWriter();
      w.reset().u8(3).str('1-x').str('a@b').str('sip:a').u8(0);
      expect(() => decodeSyncChunk(w.take(), noop, noop)).toThrow('bad params reference');
    });
  });
});
