import { readFileSync } from 'node:fs';
import { decodePacket } from '@sipedge/clusterer';
import { describe, expect, it } from 'vitest';
import { type ContactRecord, FLAG_NAT, FLAG_REMOVE_ON_TIMEOUT } from '../../model.js';
import { decodeUlPacket, decodeUlSyncChunk, encodeUlPacket } from './codec.js';
import { ALL_METHODS, ContactMatchMode, type UlContact } from './packets.js';
import {
  contactFromOpenSips,
  contactToOpenSips,
  methodsFromBits,
  methodsToBits,
  splitPath,
} from './record.js';

const fixtures = JSON.parse(
  readFileSync(
    new URL('../../../test/fixtures/opensips-3.6.8-usrloc.json', import.meta.url),
    'utf8',
  ),
) as { live: { name: string; hex: string }[]; sync: { name: string; hex: string }[] };

/** Every contact the captures hold: live inserts and updates, and the first SYNC's contacts. */
function capturedContacts(): { name: string; contact: UlContact }[] {
  const out: { name: string; contact: UlContact }[] = [];
  for (const c of fixtures.live) {
    const p = decodePacket(Buffer.from(c.hex, 'hex'));
    if (p.kind !== 'module') continue;
    const u = decodeUlPacket(p.type, p.body);
    if (u.kind === 'contact_insert' || u.kind === 'contact_update')
      out.push({ name: c.name, contact: u.contact });
  }
  const sync = decodePacket(Buffer.from(fixtures.sync[0]?.hex ?? '', 'hex'));
  if (sync.kind === 'sync') {
    for (const chunk of sync.chunks) {
      const u = decodeUlSyncChunk(chunk);
      if (u.kind === 'contact') out.push({ name: `sync ${u.contact.aor}`, contact: u.contact });
    }
  }
  return out;
}

function contact(name: string): UlContact {
  const c = capturedContacts().find((x) => x.name.startsWith(name));
  if (c === undefined) throw new Error(`no contact ${name}`);
  return c.contact;
}

describe('OpenSIPS binding → ContactRecord', () => {
  it('alice c1: Path, socket, sharing tag, times in ms', () => {
    const { record, extras } = contactFromOpenSips(contact('contact-insert alice c1'), {
      id: 'os-1',
      nodeId: 1,
    });
    expect(record).toEqual({
      id: 'os-1',
      aor: 'alice',
      uri: 'sip:alice@10.0.0.7:5062',
      params: '',
      received: null,
      path: ['<sip:edge.example.com;lr>'],
      expires: 1_796_435_219_000,
      q: null,
      callId: 'cid-alice',
      cseq: 1,
      flags: 0,
      userAgent: 'capture/1.0',
      socket: 'udp:127.0.0.51:5060',
      methods: null,
      instance: null,
      regId: null,
      lastModified: 1_796_431_619_000,
      nodeId: 1,
      shtag: 'vip/1',
    } satisfies ContactRecord);
    expect(extras).toEqual({
      domain: 'location',
      contactId: ((63453n << 46n) | 1539n).toString(),
      attr: '',
      flags: 0,
      cflags: '',
      methods: ALL_METHODS,
      path: '<sip:edge.example.com;lr>',
      instance: '',
      kvStore: '{"_st":"vip/1"}',
    });
    expect(JSON.parse(JSON.stringify(extras))).toEqual(extras);
  });

  it('alice c2: instance without brackets, q 0.5', () => {
    const { record } = contactFromOpenSips(contact('contact-insert alice c2'), {
      id: 'x',
      nodeId: 1,
    });
    expect(record).toMatchObject({
      uri: 'sip:alice@10.0.0.8:5064;transport=udp',
      instance: 'urn:uuid:00000000-0000-1000-8000-000A95A0E128',
      q: 0.5,
      callId: 'cid-alice-2',
      path: [],
      shtag: 'vip/1',
    });
  });
});

describe('ContactRecord → OpenSIPS binding', () => {
  it('every captured binding goes back unchanged, to the byte', () => {
    const all = capturedContacts();
    expect(all.length).toBeGreaterThan(100);
    for (const { name, contact: c } of all) {
      const { record, extras } = contactFromOpenSips(c, { id: 'x', nodeId: 1 });
      const back = contactToOpenSips(record, extras, { match: c.match });
      expect(back, name).toEqual(c);
      const bytes = encodeUlPacket({ kind: 'contact_insert', contact: back });
      expect(bytes.equals(encodeUlPacket({ kind: 'contact_insert', contact: c })), name).toBe(true);
    }
  });

  it('what sipedge changed goes out changed, the rest as written', () => {
    const c = contact('contact-insert alice c1');
    const { record, extras } = contactFromOpenSips(
      { ...c, kvStore: '{"_st":"vip/1","k":7}', attr: 'a=1' },
      { id: 'x', nodeId: 1 },
    );
    const changed: ContactRecord = {
      ...record,
      shtag: 'vip/2',
      path: ['<sip:a;lr>', '<sip:b;lr>'],
      q: 0.25,
      cseq: 5,
      expires: record.expires + 1500,
      methods: 'INVITE,MESSAGE',
    };
    expect(contactToOpenSips(changed, extras)).toMatchObject({
      kvStore: '{"_st":"vip/2","k":7}',
      attr: 'a=1',
      path: '<sip:a;lr>,<sip:b;lr>',
      q: 250,
      cseq: 5,
      expires: c.expires + 2,
      methods: 1 | 256,
      contactId: c.contactId,
    });
    expect(contactToOpenSips({ ...record, shtag: null }, extras).kvStore).toBe('{"k":7}');
  });

  it('a binding sipedge made: defaults for what OpenSIPS needs', () => {
    const { record } = contactFromOpenSips(contact('contact-insert alice c2'), {
      id: 'x',
      nodeId: 3,
    });
    expect(contactToOpenSips(record, undefined, { contactId: 42n })).toMatchObject({
      domain: 'location',
      contactId: 42n,
      instance: '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
      kvStore: '{"_st":"vip/1"}',
      methods: ALL_METHODS,
      flags: 0,
      cflags: '',
      attr: '',
      match: { mode: ContactMatchMode.NONE, params: [] },
    });
  });

  it('branch flag names carry the NAT and remove-on-timeout flags both ways', () => {
    const names = { nat: 'NAT', removeOnTimeout: 'RTO' };
    const c = { ...contact('contact-insert alice c1'), cflags: 'SIPPING NAT' };
    const { record, extras } = contactFromOpenSips(c, { id: 'x', nodeId: 1, branchFlags: names });
    expect(record.flags).toBe(FLAG_NAT);
    expect(contactToOpenSips(record, extras, { branchFlags: names }).cflags).toBe('SIPPING NAT');
    const both = { ...record, flags: FLAG_NAT | FLAG_REMOVE_ON_TIMEOUT };
    expect(contactToOpenSips(both, extras, { branchFlags: names }).cflags).toBe('SIPPING NAT RTO');
    const none = { ...record, flags: 0 };
    expect(contactToOpenSips(none, extras, { branchFlags: names }).cflags).toBe('SIPPING');
  });
});

describe('field helpers', () => {
  it('splitPath keeps commas inside URIs and quotes', () => {
    expect(splitPath('<sip:a;lr>,<sip:b;x=",">, <sip:c>')).toEqual([
      '<sip:a;lr>',
      '<sip:b;x=",">',
      '<sip:c>',
    ]);
    expect(splitPath('')).toEqual([]);
  });

  it('methods as names and bits', () => {
    expect(methodsFromBits(ALL_METHODS)).toBeNull();
    expect(methodsFromBits(1 | 4 | 8)).toBe('INVITE,ACK,BYE');
    expect(methodsToBits('invite, ack BYE')).toBe(1 | 4 | 8);
    expect(methodsToBits('FOO')).toBe(16384);
    expect(methodsToBits(null)).toBe(ALL_METHODS);
  });
});
