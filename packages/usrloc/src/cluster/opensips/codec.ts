/**
 * OpenSIPS 3.x usrloc replication, layout version 5, sans-I/O: a packet body (what the
 * clusterer hands a module: no BIN header, no routing trailer) or one sync chunk in, typed
 * fields out, and back byte for byte. Decoders throw ReplDecodeError on anything short,
 * long or of an unknown type (docs/protocols/usrloc-replication.md §8).
 */
import { ReplDecodeError } from '../bytes.js';
import {
  type ContactMatch,
  ContactMatchMode,
  type UlContact,
  type UlContactRef,
  type UlPacket,
  UlPacketType,
  type UlRecord,
  type UlSyncChunk,
} from './packets.js';
import { UlBinReader, UlBinWriter } from './wire.js';

/** More match params than a Contact could carry: the count is corrupt. */
const MAX_MATCH_PARAMS = 64;

/** Sync chunk marker: what follows is an AoR (as in an AoR insert). */
const CHUNK_AOR = 0;
/** Sync chunk marker: what follows is a contact (as in a contact insert). */
const CHUNK_CONTACT = 1;

function readMatch(r: UlBinReader): ContactMatch {
  const mode = r.i32('match mode');
  if (mode !== ContactMatchMode.PARAMS) return { mode, params: [] };
  const n = r.i32('match param count');
  if (n < 0 || n > MAX_MATCH_PARAMS) throw new ReplDecodeError(`match param count ${n}`);
  const params: string[] = [];
  for (let i = 0; i < n; i++) params.push(r.str('match param'));
  return { mode, params };
}

function writeMatch(w: UlBinWriter, m: ContactMatch): void {
  w.i32(m.mode);
  if (m.mode !== ContactMatchMode.PARAMS) return;
  w.i32(m.params.length);
  for (const p of m.params) w.str(p);
}

function readRecord(r: UlBinReader): UlRecord {
  return {
    domain: r.str('domain'),
    aor: r.str('aor'),
    label: r.u32('record label'),
    nextContactLabel: r.u32('next contact label'),
    kvStore: r.str('aor kv store'),
  };
}

function writeRecord(w: UlBinWriter, rec: UlRecord): void {
  w.str(rec.domain).str(rec.aor).u32(rec.label).u32(rec.nextContactLabel).str(rec.kvStore);
}

/**
 * A contact as a contact insert (and a sync chunk) orders it: the id right after the Contact
 * URI. An update carries the same fields with the id moved after the kv store.
 */
function readContact(r: UlBinReader, idLast: boolean): UlContact {
  const domain = r.str('domain');
  const aor = r.str('aor');
  const contact = r.str('contact');
  let contactId = idLast ? 0n : r.nativeU64('contact id');
  const callId = r.str('callid');
  const userAgent = r.str('user agent');
  const path = r.str('path');
  const attr = r.str('attr');
  const received = r.str('received');
  const instance = r.str('instance');
  const expires = r.nativeTime('expires');
  const q = r.nativeI32('q');
  const socket = r.str('socket');
  const cseq = r.i32('cseq');
  const flags = r.u32('flags');
  const cflags = r.str('cflags');
  const methods = r.u32('methods');
  const lastModified = r.nativeTime('last modified');
  const kvStore = r.str('contact kv store');
  if (idLast) contactId = r.nativeU64('contact id');
  const match = readMatch(r);
  return {
    domain,
    aor,
    contact,
    contactId,
    callId,
    userAgent,
    path,
    attr,
    received,
    instance,
    expires,
    q,
    socket,
    cseq,
    flags,
    cflags,
    methods,
    lastModified,
    kvStore,
    match,
  };
}

function writeContact(w: UlBinWriter, c: UlContact, idLast: boolean): void {
  w.str(c.domain).str(c.aor).str(c.contact);
  if (!idLast) w.nativeU64(c.contactId);
  w.str(c.callId)
    .str(c.userAgent)
    .str(c.path)
    .str(c.attr)
    .str(c.received)
    .str(c.instance)
    .nativeTime(c.expires)
    .nativeI32(c.q)
    .str(c.socket)
    .i32(c.cseq)
    .u32(c.flags)
    .str(c.cflags)
    .u32(c.methods)
    .nativeTime(c.lastModified)
    .str(c.kvStore);
  if (idLast) w.nativeU64(c.contactId);
  writeMatch(w, c.match);
}

function readContactRef(r: UlBinReader): UlContactRef {
  return {
    domain: r.str('domain'),
    aor: r.str('aor'),
    contact: r.str('contact'),
    callId: r.str('callid'),
    cseq: r.i32('cseq'),
    match: readMatch(r),
  };
}

/** Decode the body of a version 5 `usrloc-contact-repl` packet of the given type. */
export function decodeUlPacket(type: number, body: Buffer): UlPacket {
  const r = new UlBinReader(body);
  let p: UlPacket;
  switch (type) {
    case UlPacketType.AOR_INSERT:
      p = { kind: 'aor_insert', record: readRecord(r) };
      break;
    case UlPacketType.AOR_DELETE:
      p = { kind: 'aor_delete', domain: r.str('domain'), aor: r.str('aor') };
      break;
    case UlPacketType.CONTACT_INSERT:
      p = { kind: 'contact_insert', contact: readContact(r, false) };
      break;
    case UlPacketType.CONTACT_UPDATE:
      p = { kind: 'contact_update', contact: readContact(r, true) };
      break;
    case UlPacketType.CONTACT_DELETE:
      p = { kind: 'contact_delete', ref: readContactRef(r) };
      break;
    default:
      throw new ReplDecodeError(`unknown usrloc packet type ${type}`);
  }
  r.done(p.kind);
  return p;
}

/** The packet type number of a packet. */
export function ulPacketType(p: UlPacket): number {
  switch (p.kind) {
    case 'aor_insert':
      return UlPacketType.AOR_INSERT;
    case 'aor_delete':
      return UlPacketType.AOR_DELETE;
    case 'contact_insert':
      return UlPacketType.CONTACT_INSERT;
    case 'contact_update':
      return UlPacketType.CONTACT_UPDATE;
    case 'contact_delete':
      return UlPacketType.CONTACT_DELETE;
  }
}

/** Encode a packet's body as OpenSIPS 3.6 writes it (send it with type `ulPacketType(p)`). */
export function encodeUlPacket(p: UlPacket): Buffer {
  const w = new UlBinWriter();
  switch (p.kind) {
    case 'aor_insert':
      writeRecord(w, p.record);
      break;
    case 'aor_delete':
      w.str(p.domain).str(p.aor);
      break;
    case 'contact_insert':
      writeContact(w, p.contact, false);
      break;
    case 'contact_update':
      writeContact(w, p.contact, true);
      break;
    case 'contact_delete': {
      const ref = p.ref;
      w.str(ref.domain).str(ref.aor).str(ref.contact).str(ref.callId).i32(ref.cseq);
      writeMatch(w, ref.match);
      break;
    }
  }
  return w.take();
}

/** Decode one usrloc chunk of a SYNC packet (the bytes after the chunk marker). */
export function decodeUlSyncChunk(chunk: Buffer): UlSyncChunk {
  const r = new UlBinReader(chunk);
  const what = r.i32('chunk kind');
  let c: UlSyncChunk;
  if (what === CHUNK_AOR) c = { kind: 'aor', record: readRecord(r) };
  else if (what === CHUNK_CONTACT) c = { kind: 'contact', contact: readContact(r, false) };
  else throw new ReplDecodeError(`unknown sync chunk kind ${what}`);
  r.done(`${c.kind} sync chunk`);
  return c;
}

export function encodeUlSyncChunk(c: UlSyncChunk): Buffer {
  const w = new UlBinWriter();
  if (c.kind === 'aor') writeRecord(w.i32(CHUNK_AOR), c.record);
  else writeContact(w.i32(CHUNK_CONTACT), c.contact, false);
  return w.take();
}
