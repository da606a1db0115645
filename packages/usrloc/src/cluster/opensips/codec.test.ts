import { readFileSync } from 'node:fs';
import { decodePacket, encodePacket } from '@sipedge/clusterer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplDecodeError } from '../bytes.js';
import {
  decodeUlPacket,
  decodeUlSyncChunk,
  encodeUlPacket,
  encodeUlSyncChunk,
  ulPacketType,
} from './codec.js';
import {
  ALL_METHODS,
  ContactMatchMode,
  Q_UNSPECIFIED,
  UL_BIN_VERSION,
  type UlContact,
  type UlPacket,
  type UlSyncChunk,
} from './packets.js';

interface Captured {
  name: string;
  capability: string;
  version: number;
  type: number;
  hex: string;
}
const fixtures = JSON.parse(
  readFileSync(
    new URL('../../../test/fixtures/opensips-3.6.8-usrloc.json', import.meta.url),
    'utf8',
  ),
) as { live: Captured[]; sync: Captured[] };

function captured(list: Captured[], name: string): Buffer {
  const c = list.find((x) => x.name.startsWith(name));
  if (c === undefined) throw new Error(`no fixture ${name}`);
  return Buffer.from(c.hex, 'hex');
}

/** The module packet of a live capture, as the clusterer hands it over. */
function live(name: string): { type: number; version: number; body: Buffer; raw: Buffer } {
  const raw = captured(fixtures.live, name);
  const p = decodePacket(raw);
  if (p.kind !== 'module') throw new Error(`${name} is not a module packet`);
  return { type: p.type, version: p.version, body: p.body, raw };
}

function decodeLive(name: string): UlPacket {
  const l = live(name);
  return decodeUlPacket(l.type, l.body);
}

function contactOf(p: UlPacket): UlContact {
  if (p.kind !== 'contact_insert' && p.kind !== 'contact_update') throw new Error(p.kind);
  return p.contact;
}

const ST_VIP = '{"_st":"vip/1"}';
/** 2026-12-05 01:46:59 UTC and the hour before: the capture's first REGISTER. */
const EXPIRES_1 = 1_796_435_219;
const MODIFIED_1 = 1_796_431_619;
/** c1's id on node 1: hash 63453, record label 0, contact label 1539. */
const C1_ID = (63453n << 46n) | 1539n;

describe('OpenSIPS 3.6.8 usrloc live packets', () => {
  it('every capture is a version 5 usrloc-contact-repl packet', () => {
    for (const c of fixtures.live) {
      const p = decodePacket(Buffer.from(c.hex, 'hex'));
      expect(p).toMatchObject({ kind: 'module', capability: 'usrloc-contact-repl', src: 1 });
      if (p.kind === 'module') expect(p.version).toBe(UL_BIN_VERSION);
    }
  });

  it('AoR insert: table, AoR, labels, empty kv store', () => {
    expect(decodeLive('aor-insert alice')).toEqual({
      kind: 'aor_insert',
      record: { domain: 'location', aor: 'alice', label: 0, nextContactLabel: 1539, kvStore: '' },
    });
    expect(decodeLive('aor-insert bob0')).toMatchObject({ record: { aor: 'bob0' } });
  });

  it('contact insert with Path', () => {
    expect(contactOf(decodeLive('contact-insert alice c1'))).toEqual({
      domain: 'location',
      aor: 'alice',
      contact: 'sip:alice@10.0.0.7:5062',
      contactId: C1_ID,
      callId: 'cid-alice',
      userAgent: 'capture/1.0',
      path: '<sip:edge.example.com;lr>',
      attr: '',
      received: '',
      instance: '',
      expires: EXPIRES_1,
      q: Q_UNSPECIFIED,
      socket: 'udp:127.0.0.51:5060',
      cseq: 1,
      flags: 0,
      cflags: '',
      methods: ALL_METHODS,
      lastModified: MODIFIED_1,
      kvStore: ST_VIP,
      match: { mode: ContactMatchMode.NONE, params: [] },
    });
  });

  it('contact update: the refresh, contact id read from after the kv store', () => {
    const c = contactOf(decodeLive('contact-update alice c1'));
    expect(c).toMatchObject({
      contact: 'sip:alice@10.0.0.7:5062',
      contactId: C1_ID,
      callId: 'cid-alice',
      cseq: 2,
      expires: EXPIRES_1 + 1,
      lastModified: MODIFIED_1 + 1,
      path: '<sip:edge.example.com;lr>',
      kvStore: ST_VIP,
    });
  });

  it('contact insert with +sip.instance and q', () => {
    const c = contactOf(decodeLive('contact-insert alice c2'));
    expect(c).toMatchObject({
      contact: 'sip:alice@10.0.0.8:5064;transport=udp',
      contactId: C1_ID + 1n,
      callId: 'cid-alice-2',
      userAgent: 'capture/1.0',
      path: '',
      instance: '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
      q: 500,
      cseq: 1,
      socket: 'udp:127.0.0.51:5060',
      kvStore: ST_VIP,
    });
  });

  it('contact deletes and the AoR delete', () => {
    const none = { mode: ContactMatchMode.NONE, params: [] };
    expect(decodeLive('contact-delete alice c1')).toEqual({
      kind: 'contact_delete',
      ref: {
        domain: 'location',
        aor: 'alice',
        contact: 'sip:alice@10.0.0.7:5062',
        callId: 'cid-alice',
        cseq: 2,
        match: none,
      },
    });
    expect(decodeLive('contact-delete alice c2')).toMatchObject({
      ref: { contact: 'sip:alice@10.0.0.8:5064;transport=udp', callId: 'cid-alice-2', cseq: 1 },
    });
    expect(decodeLive('aor-delete alice')).toEqual({
      kind: 'aor_delete',
      domain: 'location',
      aor: 'alice',
    });
  });

  it('every capture re-encodes byte for byte, body and whole packet', () => {
    for (const c of fixtures.live) {
      const l = live(c.name);
      const p = decodeUlPacket(l.type, l.body);
      expect(ulPacketType(p)).toBe(c.type);
      const body = encodeUlPacket(p);
      expect(body.toString('hex'), c.name).toBe(l.body.toString('hex'));
      const whole = encodePacket({
        kind: 'module',
        capability: 'usrloc-contact-repl',
        version: UL_BIN_VERSION,
        type: ulPacketType(p),
        body,
        cluster: 1,
        src: 1,
        dst: 2,
      });
      expect(whole.toString('hex'), c.name).toBe(c.hex);
    }
  });

  it('match params round-trip (mode PARAMS is the only one followed by a list)', () => {
    const c = contactOf(decodeLive('contact-insert alice c2'));
    const p: UlPacket = {
      kind: 'contact_update',
      contact: { ...c, match: { mode: ContactMatchMode.PARAMS, params: ['+sip.instance', 'x'] } },
    };
    expect(decodeUlPacket(4, encodeUlPacket(p))).toEqual(p);
  });
});

describe('OpenSIPS 3.6.8 usrloc sync', () => {
  function syncChunks(name: string): { chunks: Buffer[]; raw: Buffer } {
    const raw = captured(fixtures.sync, name);
    const p = decodePacket(raw);
    if (p.kind !== 'sync') throw new Error(`${name} is not a SYNC`);
    expect(p).toMatchObject({ capability: 'usrloc-contact-repl', dataVersion: UL_BIN_VERSION });
    return { chunks: p.chunks, raw };
  }

  /** Each AoR chunk is followed by its contact; returns the chunks decoded. */
  function checkPairs(decoded: UlSyncChunk[]): void {
    for (let i = 0; i < decoded.length; i += 2) {
      const aor = decoded[i];
      const ct = decoded[i + 1];
      if (aor?.kind !== 'aor' || ct?.kind !== 'contact') throw new Error(`chunk ${i}`);
      expect(aor.record.aor).toMatch(/^bob\d+$/);
      expect(ct.contact.aor).toBe(aor.record.aor);
      expect(ct.contact.contact).toMatch(/^sip:bob\d+@192\.168\.\d+\.\d+:5060$/);
      expect(ct.contact.kvStore).toBe(ST_VIP);
      expect(ct.contact.match).toEqual({ mode: ContactMatchMode.CONTACT_CALLID, params: [] });
    }
  }

  it.each([
    ['SYNC 1 of 11', 288],
    ['SYNC 11 of 11', 116],
  ])('%s: every chunk decodes, AoR then its contact, and re-encodes', (name, count) => {
    const { chunks, raw } = syncChunks(name);
    const decoded = chunks.map((c) => decodeUlSyncChunk(c));
    expect(decoded).toHaveLength(count);
    checkPairs(decoded);
    const again = decoded.map((c) => encodeUlSyncChunk(c));
    again.forEach((b, i) => {
      expect(b.equals(chunks[i]!), `chunk ${i}`).toBe(true);
    });
    const p = decodePacket(raw);
    if (p.kind !== 'sync') throw new Error('not a sync');
    expect(encodePacket({ ...p, chunks: again }).equals(raw)).toBe(true);
  });

  it('SYNC_END counts the 3,000 chunks of 1,500 AoRs and 1,500 contacts', () => {
    const p = decodePacket(captured(fixtures.sync, 'SYNC_END'));
    expect(p).toMatchObject({ kind: 'sync_end', capability: 'usrloc-contact-repl', chunks: 3000 });
  });
});

describe('malformed input', () => {
  const bodies = fixtures.live.map((c) => ({ type: c.type, body: live(c.name).body }));

  it('every truncation of every body throws ReplDecodeError', () => {
    for (const { type, body } of bodies) {
      for (let n = 0; n < body.length; n++) {
        expect(() => decodeUlPacket(type, body.subarray(0, n))).toThrow(ReplDecodeError);
      }
    }
  });

  it('every truncation of a sync chunk throws ReplDecodeError', () => {
    const p = decodePacket(captured(fixtures.sync, 'SYNC 1 of 11'));
    if (p.kind !== 'sync') throw new Error('not a sync');
    for (const chunk of p.chunks.slice(0, 2)) {
      for (let n = 0; n < chunk.length; n++) {
        expect(() => decodeUlSyncChunk(chunk.subarray(0, n))).toThrow(ReplDecodeError);
      }
    }
  });

  it('trailing bytes, unknown types and chunk kinds are refused', () => {
    const { type, body } = bodies[0]!;
    expect(() => decodeUlPacket(type, Buffer.concat([body, Buffer.of(0)]))).toThrow(
      ReplDecodeError,
    );
    expect(() => decodeUlPacket(6, body)).toThrow(/unknown usrloc packet type 6/);
    expect(() => decodeUlSyncChunk(Buffer.of(2, 0, 0, 0))).toThrow(/sync chunk kind 2/);
  });

  it('a native field of the wrong width is refused (a 32-bit sender)', () => {
    const c = contactOf(decodeLive('contact-insert alice c1'));
    const good = encodeUlPacket({ kind: 'contact_insert', contact: c });
    // the contact id's str length sits after domain, aor and contact
    const at = 2 + 8 + 2 + 5 + 2 + c.contact.length;
    expect(good.readUInt16LE(at)).toBe(8);
    const bad = Buffer.from(good);
    bad.writeUInt16LE(4, at);
    expect(() => decodeUlPacket(3, bad)).toThrow(/contact id of 4 bytes/);
  });

  it('a corrupt match param count is refused', () => {
    const body = Buffer.from('00000000000000000000000002000000ffffff7f', 'hex');
    // domain, aor, contact, callid empty; cseq 0; mode PARAMS; count 2^31-1
    expect(() => decodeUlPacket(5, body)).toThrow(/match param count/);
  });
});

describe('round trip of any field values', () => {
  const latin1 = fc.string({
    unit: fc.integer({ min: 0, max: 255 }).map((n) => String.fromCharCode(n)),
    maxLength: 24,
  });
  const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
  const time = fc.integer({ min: -(2 ** 40), max: 2 ** 40 });
  const match = fc.oneof(
    i32
      .filter((m) => m !== ContactMatchMode.PARAMS)
      .map((mode) => ({ mode, params: [] as string[] })),
    fc
      .array(latin1, { maxLength: 4 })
      .map((params) => ({ mode: ContactMatchMode.PARAMS as number, params })),
  );
  const contact: fc.Arbitrary<UlContact> = fc.record({
    domain: latin1,
    aor: latin1,
    contact: latin1,
    contactId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    callId: latin1,
    userAgent: latin1,
    path: latin1,
    attr: latin1,
    received: latin1,
    instance: latin1,
    expires: time,
    q: i32,
    socket: latin1,
    cseq: i32,
    flags: u32,
    cflags: latin1,
    methods: u32,
    lastModified: time,
    kvStore: latin1,
    match,
  });
  const packet: fc.Arbitrary<UlPacket> = fc.oneof(
    fc
      .record({ domain: latin1, aor: latin1, label: u32, nextContactLabel: u32, kvStore: latin1 })
      .map((record) => ({ kind: 'aor_insert' as const, record })),
    fc.record({ kind: fc.constant('aor_delete' as const), domain: latin1, aor: latin1 }),
    contact.map((c) => ({ kind: 'contact_insert' as const, contact: c })),
    contact.map((c) => ({ kind: 'contact_update' as const, contact: c })),
    fc
      .record({ domain: latin1, aor: latin1, contact: latin1, callId: latin1, cseq: i32, match })
      .map((ref) => ({ kind: 'contact_delete' as const, ref })),
  );

  it('decode(encode(p)) is p, and a sync chunk likewise', () => {
    fc.assert(
      fc.property(packet, (p) => {
        expect(decodeUlPacket(ulPacketType(p), encodeUlPacket(p))).toEqual(p);
        if (p.kind === 'contact_insert') {
          const chunk: UlSyncChunk = { kind: 'contact', contact: p.contact };
          expect(decodeUlSyncChunk(encodeUlSyncChunk(chunk))).toEqual(chunk);
        }
      }),
      { numRuns: 300 },
    );
  });
});
