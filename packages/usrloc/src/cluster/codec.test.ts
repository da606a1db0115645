import { describe, expect, it } from 'vitest';
import type { ContactRecord } from '../model.js';
import {
  decodeChange,
  decodeSyncItem,
  encodeChange,
  encodeSyncRecord,
  encodeSyncTombstone,
  PacketType,
  ReplDecodeError,
  ReplWriter,
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
const bare: ContactRecord = {
  ...full,
  received: null,
  path: [],
  expires: 0,
  q: null,
  userAgent: null,
  socket: null,
  methods: null,
  instance: null,
  regId: null,
  shtag: null,
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

  it('rejects truncated, padded, unknown and absurd input with ReplDecodeError', () => {
    const w = new ReplWriter();
    const body = encodeChange(w, { domain: 'location', contact: full, at: T0, nodeId: 2 });
    for (let n = 0; n < body.length; n += 7)
      expect(() => decodeChange(PacketType.INSERT, body.subarray(0, n))).toThrow(ReplDecodeError);
    expect(() => decodeChange(PacketType.INSERT, Buffer.concat([body, Buffer.from([0])]))).toThrow(
      'trailing bytes',
    );
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
});
