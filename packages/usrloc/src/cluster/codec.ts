import type { TombstoneEntry } from '../location/tombstones.js';
import type { ContactRecord, OpenSipsContactExtras } from '../model.js';
import { Interner, ReplDecodeError, ReplReader, type ReplWriter } from './bytes.js';

/**
 * The sipedge usrloc replication layout (capability `usrloc-contact-repl`, module packet
 * version {@link USRLOC_REPL_VERSION}). OpenSIPS accepts versions 2–5 of its own layout and
 * drops any other, so an OpenSIPS node in the cluster ignores these packets instead of
 * misreading them. Little-endian; `str` = u16 length + UTF-8 bytes; `nstr` = `str` or 0xFFFF
 * for null; numbers that may be fractional or absent are f64 (NaN = null).
 *
 * Module packet body (types 3 insert, 4 update, 5 delete as OpenSIPS; 6 refresh, sipedge):
 *   str domain, record, f64 at (when the change was made, ms), u32 node id (who made it),
 *   and for a binding an OpenSIPS node wrote: str opensips (its OpenSIPS-only fields, JSON)
 * record:
 *   str id, str aor, str uri, str params, nstr received, u16 path count + str each,
 *   f64 expires (absolute ms, 0 = permanent), f64 q, str callid, u32 cseq, u32 flags,
 *   nstr user_agent, nstr socket, nstr methods, nstr instance, f64 reg_id,
 *   f64 last_modified, u32 node id, nstr shtag
 * Sync chunk: u8 kind; 1 = record; 4 = record, str opensips (as in a packet body);
 *   2 = tombstone: str id, str aor, str callid, u32 cseq,
 *   f64 at, u32 node id, f64 deleted_at; 3 = batch: records back to back to the chunk's end,
 *   each with its shared fields (params, Path hops, user_agent, socket, methods, shtag) as a
 *   u8 `ref` into the chunk's own dictionary: 0xFF null, 0xFE a new entry (str follows, next
 *   index), 0xFD a string not kept (str follows), else the index of an earlier entry. A
 *   batch stands alone: its dictionary starts empty.
 */
export const USRLOC_REPL_VERSION = 100;

export const PacketType = { INSERT: 3, UPDATE: 4, DELETE: 5, REFRESH: 6 } as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

const CHUNK_RECORD = 1;
const CHUNK_TOMBSTONE = 2;
const CHUNK_BATCH = 3;
/** A binding an OpenSIPS node wrote: the record, then its OpenSIPS-only fields (never batched). */
const CHUNK_RECORD_OPENSIPS = 4;
const REF_NULL = 0xff;
const REF_NEW = 0xfe;
const REF_INLINE = 0xfd;
/** Dictionary entries a batch may hold (indexes 0–252). */
const DICT_MAX = 0xfd;
const MAX_PATH = 64;

const shared = {
  params: new Interner(),
  path: new Interner(),
  userAgent: new Interner(),
  socket: new Interner(),
  methods: new Interner(),
  shtag: new Interner(),
};

const NO_PATH: readonly string[] = Object.freeze([]);
/** Interned hop → its frozen one-element path (bounded like the interners). */
const onePath = new Map<string, readonly string[]>();
function onePathOf(hop: string): readonly string[] {
  if (onePath.size >= 4096) onePath.clear();
  const p = Object.freeze([hop]);
  onePath.set(hop, p);
  return p;
}

/** A shared field: through `cache`, or with a batch dictionary a `ref` into it. */
function nsharedIn(
  r: ReplReader,
  dict: string[] | undefined,
  cache: Interner,
  what: string,
): string | null {
  return dict === undefined ? r.nshared(cache) : ref(r, dict, cache, what);
}

function sharedIn(
  r: ReplReader,
  dict: string[] | undefined,
  cache: Interner,
  what: string,
): string {
  const s = nsharedIn(r, dict, cache, what);
  if (s === null) throw new ReplDecodeError(`${what} missing`);
  return s;
}

/** A shared field of a batch record (see the layout above). */
function ref(r: ReplReader, dict: string[], cache: Interner, what: string): string | null {
  const tag = r.u8();
  if (tag === REF_NULL) return null;
  if (tag < dict.length) return dict[tag] as string;
  if (tag !== REF_NEW && tag !== REF_INLINE) throw new ReplDecodeError(`bad ${what} reference`);
  const s = r.nshared(cache);
  if (s === null) throw new ReplDecodeError(`${what} missing`);
  if (tag === REF_NEW) {
    if (dict.length >= DICT_MAX) throw new ReplDecodeError('batch dictionary overflow');
    dict.push(s);
  }
  return s;
}

/** A shared field: `nstr`, or with a batch dictionary a `ref`. */
function writeShared(w: ReplWriter, s: string | null, dict: Map<string, number> | undefined): void {
  if (dict === undefined) w.nstr(s);
  else if (s === null) w.u8(REF_NULL);
  else {
    const i = dict.get(s);
    if (i !== undefined) w.u8(i);
    else if (dict.size < DICT_MAX) {
      dict.set(s, dict.size);
      w.u8(REF_NEW).str(s);
    } else w.u8(REF_INLINE).str(s);
  }
}

function writeRecord(w: ReplWriter, c: ContactRecord, dict?: Map<string, number>): void {
  w.str(c.id).str(c.aor).str(c.uri);
  writeShared(w, c.params, dict);
  w.nstr(c.received);
  w.u16(c.path.length);
  for (const p of c.path) writeShared(w, p, dict);
  w.f64(c.expires).f64(c.q).str(c.callId).u32(c.cseq).u32(c.flags);
  writeShared(w, c.userAgent, dict);
  writeShared(w, c.socket, dict);
  writeShared(w, c.methods, dict);
  w.nstr(c.instance).f64(c.regId);
  w.f64(c.lastModified).u32(c.nodeId);
  writeShared(w, c.shtag, dict);
}

function finiteTime(v: number, what: string): number {
  if (!Number.isFinite(v) || v < 0) throw new ReplDecodeError(`bad ${what}`);
  return v;
}

function optNumber(v: number, what: string): number | null {
  if (Number.isNaN(v)) return null;
  if (!Number.isFinite(v)) throw new ReplDecodeError(`bad ${what}`);
  return v;
}

function readRecord(r: ReplReader, dict?: string[]): ContactRecord {
  const id = r.str('id');
  const aor = r.str('aor');
  if (id === '' || aor === '') throw new ReplDecodeError('empty id or aor');
  const uri = r.str('uri');
  const params = sharedIn(r, dict, shared.params, 'params');
  const received = r.nstr();
  const pn = r.u16();
  if (pn > MAX_PATH) throw new ReplDecodeError('path too long');
  let path: readonly string[];
  if (pn === 1) {
    // one Path hop (the edge that took the REGISTER) is the usual case: one frozen array per
    // distinct hop, shared by every binding behind it
    const hop = sharedIn(r, dict, shared.path, 'path');
    path = onePath.get(hop) ?? onePathOf(hop);
  } else {
    const list: string[] = [];
    for (let i = 0; i < pn; i++) list.push(sharedIn(r, dict, shared.path, 'path'));
    path = pn === 0 ? NO_PATH : list;
  }
  const expires = finiteTime(r.f64(), 'expires');
  const q = optNumber(r.f64(), 'q');
  if (q !== null && (q < 0 || q > 1)) throw new ReplDecodeError('bad q');
  const callId = r.str('callid');
  const cseq = r.u32();
  const flags = r.u32();
  const userAgent = nsharedIn(r, dict, shared.userAgent, 'user_agent');
  const socket = nsharedIn(r, dict, shared.socket, 'socket');
  const methods = nsharedIn(r, dict, shared.methods, 'methods');
  const instance = r.nstr();
  const regId = optNumber(r.f64(), 'reg-id');
  const lastModified = finiteTime(r.f64(), 'last_modified');
  const nodeId = r.u32();
  const shtag = nsharedIn(r, dict, shared.shtag, 'shtag');
  return {
    id,
    aor,
    uri,
    params,
    received,
    path,
    expires,
    q,
    callId,
    cseq,
    flags,
    userAgent,
    socket,
    methods,
    instance,
    regId,
    lastModified,
    nodeId,
    shtag,
  };
}

/** A replicated change as carried by a module packet. */
export interface ReplChange {
  readonly type: PacketType;
  readonly domain: string;
  readonly contact: ContactRecord;
  readonly at: number;
  readonly nodeId: number;
}

export function encodeChange(w: ReplWriter, ch: Omit<ReplChange, 'type'>): Buffer {
  w.reset().str(ch.domain);
  writeRecord(w, ch.contact);
  w.f64(ch.at).u32(ch.nodeId);
  if (ch.contact.opensips !== undefined) w.str(JSON.stringify(ch.contact.opensips));
  return w.take();
}

const EXTRAS_STRINGS = ['domain', 'contactId', 'attr', 'cflags', 'path', 'instance', 'kvStore'];
const EXTRAS_NUMBERS = ['flags', 'methods'];

/** The OpenSIPS-only fields of a binding, read back from their JSON. */
function readExtras(r: ReplReader): OpenSipsContactExtras {
  const json = r.str('opensips');
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new ReplDecodeError('opensips fields are not JSON');
  }
  if (v === null || typeof v !== 'object') throw new ReplDecodeError('bad opensips fields');
  const o = v as Record<string, unknown>;
  for (const k of EXTRAS_STRINGS)
    if (typeof o[k] !== 'string') throw new ReplDecodeError(`bad opensips ${k}`);
  for (const k of EXTRAS_NUMBERS)
    if (!Number.isInteger(o[k])) throw new ReplDecodeError(`bad opensips ${k}`);
  return v as OpenSipsContactExtras;
}

/** `c` with the OpenSIPS-only fields that follow it, when the bytes go on. */
function withExtras(r: ReplReader, c: ContactRecord): ContactRecord {
  return r.atEnd ? c : { ...c, opensips: readExtras(r) };
}

/** Decode a module packet body; throws ReplDecodeError on anything malformed. */
export function decodeChange(type: number, body: Buffer): ReplChange {
  if (type < PacketType.INSERT || type > PacketType.REFRESH)
    throw new ReplDecodeError(`unknown packet type ${type}`);
  const r = new ReplReader(body);
  const domain = r.str('domain');
  const contact = readRecord(r);
  const at = finiteTime(r.f64(), 'change time');
  const nodeId = r.u32();
  const full = withExtras(r, contact);
  r.end();
  return { type: type as PacketType, domain, contact: full, at, nodeId };
}

export type SyncItem =
  | { readonly kind: 'record'; readonly contact: ContactRecord }
  | { readonly kind: 'tombstone'; readonly tombstone: TombstoneEntry };

/** Append one sync item (a binding) to `w`, after what is there. */
export function appendSyncRecord(w: ReplWriter, c: ContactRecord): void {
  if (c.opensips === undefined) {
    writeRecord(w.u8(CHUNK_RECORD), c);
    return;
  }
  writeRecord(w.u8(CHUNK_RECORD_OPENSIPS), c);
  w.str(JSON.stringify(c.opensips));
}

/** Append one sync item (a tombstone) to `w`, after what is there. */
export function appendSyncTombstone(w: ReplWriter, t: TombstoneEntry): void {
  w.u8(CHUNK_TOMBSTONE).str(t.id).str(t.aor).str(t.callId).u32(t.cseq);
  w.f64(t.at).u32(t.nodeId).f64(t.deletedAt);
}

/** One sync item, cut from `w`'s slab (see `ReplWriter.begin`): no copy per item. */
export function encodeSyncRecord(w: ReplWriter, c: ContactRecord): Buffer {
  appendSyncRecord(w.begin(), c);
  return w.end();
}

/** One sync tombstone, cut from `w`'s slab. */
export function encodeSyncTombstone(w: ReplWriter, t: TombstoneEntry): Buffer {
  appendSyncTombstone(w.begin(), t);
  return w.end();
}

/** Bytes a batch chunk grows to before it is closed (well inside one SYNC packet). */
const BATCH_BYTES = 16 * 1024;
/** Bindings per batch chunk at most. */
const BATCH_RECORDS = 128;

/**
 * Bindings packed into batch chunks (kind 3), each cut from `w`'s slab: `add` returns a chunk
 * once the current one is full (undefined until then), `flush` the last, partial one.
 */
export class SyncBatchEncoder {
  readonly #w: ReplWriter;
  readonly #dict = new Map<string, number>();
  #n = 0;

  constructor(w: ReplWriter) {
    this.#w = w;
  }

  /** (A binding with OpenSIPS-only fields goes in a chunk of its own: `encodeSyncRecord`.) */
  add(c: ContactRecord): Buffer | undefined {
    if (this.#n === 0) {
      this.#w.begin().u8(CHUNK_BATCH);
      this.#dict.clear();
    }
    writeRecord(this.#w, c, this.#dict);
    this.#n++;
    return this.#n >= BATCH_RECORDS || this.#w.length >= BATCH_BYTES ? this.flush() : undefined;
  }

  flush(): Buffer | undefined {
    if (this.#n === 0) return undefined;
    this.#n = 0;
    return this.#w.end();
  }
}

const syncReader = new ReplReader(Buffer.alloc(0));

/**
 * Decode one sync chunk of any kind, handing each binding and tombstone to the callbacks in
 * order; throws ReplDecodeError on anything malformed (what was handed out before stays).
 */
export function decodeSyncChunk(
  chunk: Buffer,
  onRecord: (c: ContactRecord) => void,
  onTombstone: (t: TombstoneEntry) => void,
): void {
  if (chunk.length > 0 && chunk[0] === CHUNK_BATCH) {
    const r = syncReader.reset(chunk);
    r.u8();
    const dict: string[] = [];
    if (r.atEnd) throw new ReplDecodeError('empty batch');
    while (!r.atEnd) onRecord(readRecord(r, dict));
    return;
  }
  const item = decodeSyncItem(chunk);
  if (item.kind === 'record') onRecord(item.contact);
  else onTombstone(item.tombstone);
}

export function decodeSyncItem(chunk: Buffer): SyncItem {
  const r = syncReader.reset(chunk);
  const kind = r.u8();
  if (kind === CHUNK_RECORD || kind === CHUNK_RECORD_OPENSIPS) {
    const record = readRecord(r);
    const contact = kind === CHUNK_RECORD ? record : { ...record, opensips: readExtras(r) };
    r.end();
    return { kind: 'record', contact };
  }
  if (kind !== CHUNK_TOMBSTONE) throw new ReplDecodeError(`unknown sync item ${kind}`);
  const id = r.str('id');
  const aor = r.str('aor');
  const callId = r.str('callid');
  const cseq = r.u32();
  const at = finiteTime(r.f64(), 'at');
  const nodeId = r.u32();
  const deletedAt = finiteTime(r.f64(), 'deleted_at');
  r.end();
  return { kind: 'tombstone', tombstone: { id, aor, callId, cseq, at, nodeId, deletedAt } };
}
