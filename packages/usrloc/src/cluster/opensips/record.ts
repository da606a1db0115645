/**
 * An OpenSIPS binding (`UlContact`) to a sipedge `ContactRecord` and back. What sipedge has no
 * field for, or holds in another form, travels beside the record as `OpenSipsContactExtras`,
 * so a binding written by an OpenSIPS node goes back out exactly as it came in as long as
 * sipedge did not change it (docs/protocols/usrloc-replication.md §8.5).
 */
import type { ContactRecord, OpenSipsContactExtras } from '../../model.js';
import { FLAG_NAT, FLAG_REMOVE_ON_TIMEOUT } from '../../model.js';
import {
  ALL_METHODS,
  type ContactMatch,
  ContactMatchMode,
  Q_UNSPECIFIED,
  type UlContact,
} from './packets.js';

export type { OpenSipsContactExtras };

/**
 * The branch flag names (OpenSIPS `cflags`) that mean sipedge's contact flags: nathelper's
 * `nat_bflag` and `remove_on_timeout_bflag` as the OpenSIPS script names them. Unset: the
 * flags do not cross (they are still carried in the extras).
 */
export interface BranchFlagNames {
  readonly nat?: string;
  readonly removeOnTimeout?: string;
}

/** OpenSIPS method bits (`METHOD_INVITE` = 1 …), by name; any other method is OTHER. */
const METHOD_BITS: readonly (readonly [string, number])[] = [
  ['INVITE', 1],
  ['CANCEL', 2],
  ['ACK', 4],
  ['BYE', 8],
  ['INFO', 16],
  ['OPTIONS', 32],
  ['UPDATE', 64],
  ['REGISTER', 128],
  ['MESSAGE', 256],
  ['SUBSCRIBE', 512],
  ['NOTIFY', 1024],
  ['PRACK', 2048],
  ['REFER', 4096],
  ['PUBLISH', 8192],
];
const METHOD_OTHER = 16384;

/** The methods of a bitmask as a comma list (`null` for all); bits without a name are lost. */
export function methodsFromBits(bits: number): string | null {
  if (bits >>> 0 === ALL_METHODS) return null;
  return METHOD_BITS.filter(([, b]) => (bits & b) !== 0)
    .map(([name]) => name)
    .join(',');
}

/** A comma- or space-separated method list as OpenSIPS bits (`null` = all). */
export function methodsToBits(methods: string | null): number {
  if (methods === null) return ALL_METHODS;
  let bits = 0;
  for (const m of methods.split(/[\s,]+/)) {
    if (m === '') continue;
    const known = METHOD_BITS.find(([name]) => name === m.toUpperCase());
    bits |= known === undefined ? METHOD_OTHER : known[1];
  }
  return bits >>> 0;
}

/** Path values out of OpenSIPS's one string: split at commas outside `<…>` and quotes. */
export function splitPath(path: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < path.length; i++) {
    const ch = path[i];
    if (ch === '"' && path[i - 1] !== '\\') quoted = !quoted;
    else if (quoted) continue;
    else if (ch === '<') depth++;
    else if (ch === '>') depth = Math.max(0, depth - 1);
    else if (ch === ',' && depth === 0) {
      out.push(path.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = path.slice(start).trim();
  if (last !== '' || out.length > 0) out.push(last);
  return out;
}

/** The key of the owning sharing tag in a contact's kv store (`ul_shtag_key`). */
const SHTAG_KEY = '_st';

function parseKvStore(kv: string): Record<string, unknown> {
  if (kv === '') return {};
  try {
    const v: unknown = JSON.parse(kv);
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** The sharing tag a kv store names, or null. */
export function shtagOfKvStore(kv: string): string | null {
  const st = parseKvStore(kv)[SHTAG_KEY];
  return typeof st === 'string' && st !== '' ? st : null;
}

function withShtag(kv: string, shtag: string | null): string {
  if (shtagOfKvStore(kv) === shtag) return kv;
  const store = parseKvStore(kv);
  if (shtag === null) delete store[SHTAG_KEY];
  else store[SHTAG_KEY] = shtag;
  return Object.keys(store).length === 0 ? '' : JSON.stringify(store);
}

function stripInstance(instance: string): string | null {
  if (instance === '') return null;
  return instance.replace(/^"|"$/g, '').replace(/^<|>$/g, '');
}

function cflagNames(cflags: string): string[] {
  return cflags.split(' ').filter((n) => n !== '');
}

function flagsFromCflags(cflags: string, names: BranchFlagNames): number {
  const set = new Set(cflagNames(cflags));
  let flags = 0;
  if (names.nat !== undefined && set.has(names.nat)) flags |= FLAG_NAT;
  if (names.removeOnTimeout !== undefined && set.has(names.removeOnTimeout))
    flags |= FLAG_REMOVE_ON_TIMEOUT;
  return flags;
}

function cflagsFromFlags(cflags: string, flags: number, names: BranchFlagNames): string {
  if (flagsFromCflags(cflags, names) === flags) return cflags;
  let list = cflagNames(cflags);
  const want = (name: string | undefined, bit: number): void => {
    if (name === undefined) return;
    const on = (flags & bit) !== 0;
    if (on && !list.includes(name)) list.push(name);
    if (!on) list = list.filter((n) => n !== name);
  };
  want(names.nat, FLAG_NAT);
  want(names.removeOnTimeout, FLAG_REMOVE_ON_TIMEOUT);
  return list.join(' ');
}

export interface FromOpenSipsOptions {
  /** The sipedge id of this binding: the one already stored for it, or a new one. */
  readonly id: string;
  /** The node the change came from. */
  readonly nodeId: number;
  readonly branchFlags?: BranchFlagNames;
}

/** A binding an OpenSIPS node wrote, as a sipedge record plus what only OpenSIPS uses. */
export function contactFromOpenSips(
  c: UlContact,
  opts: FromOpenSipsOptions,
): { record: ContactRecord; extras: OpenSipsContactExtras } {
  const record: ContactRecord = {
    id: opts.id,
    aor: c.aor,
    uri: c.contact,
    params: '',
    received: c.received === '' ? null : c.received,
    path: c.path === '' ? [] : splitPath(c.path),
    expires: c.expires * 1000,
    q: c.q === Q_UNSPECIFIED ? null : c.q / 1000,
    callId: c.callId,
    cseq: c.cseq,
    flags: flagsFromCflags(c.cflags, opts.branchFlags ?? {}),
    userAgent: c.userAgent === '' ? null : c.userAgent,
    socket: c.socket === '' ? null : c.socket,
    methods: methodsFromBits(c.methods),
    instance: stripInstance(c.instance),
    regId: null,
    lastModified: c.lastModified * 1000,
    nodeId: opts.nodeId,
    shtag: shtagOfKvStore(c.kvStore),
  };
  const extras: OpenSipsContactExtras = {
    domain: c.domain,
    contactId: c.contactId.toString(),
    attr: c.attr,
    flags: c.flags,
    cflags: c.cflags,
    methods: c.methods,
    path: c.path,
    instance: c.instance,
    kvStore: c.kvStore,
  };
  return { record, extras };
}

export interface ToOpenSipsOptions {
  /** The usrloc table, when the record has no extras (default `location`). */
  readonly domain?: string;
  /** The contact id to send, when the record has no extras (default 0: receivers repack it). */
  readonly contactId?: bigint;
  /** The matching rule to send (default NONE: the receiver's own rule). */
  readonly match?: ContactMatch;
  readonly branchFlags?: BranchFlagNames;
}

const MATCH_NONE: ContactMatch = { mode: ContactMatchMode.NONE, params: [] };

function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * A sipedge record as OpenSIPS carries it. With the extras it came in with, every field
 * sipedge did not change goes out as it was written.
 */
export function contactToOpenSips(
  r: ContactRecord,
  extras?: OpenSipsContactExtras,
  opts: ToOpenSipsOptions = {},
): UlContact {
  const names = opts.branchFlags ?? {};
  const path =
    extras !== undefined && samePath(splitPath(extras.path), r.path)
      ? extras.path
      : r.path.join(',');
  const instance =
    r.instance === null
      ? ''
      : extras !== undefined && stripInstance(extras.instance) === r.instance
        ? extras.instance
        : `<${r.instance}>`;
  const methods =
    extras !== undefined && methodsFromBits(extras.methods) === r.methods
      ? extras.methods
      : methodsToBits(r.methods);
  return {
    domain: extras?.domain ?? opts.domain ?? 'location',
    aor: r.aor,
    contact: r.uri,
    contactId: extras !== undefined ? BigInt(extras.contactId) : (opts.contactId ?? 0n),
    callId: r.callId,
    userAgent: r.userAgent ?? '',
    path,
    attr: extras?.attr ?? '',
    received: r.received ?? '',
    instance,
    expires: Math.ceil(r.expires / 1000),
    q: r.q === null ? Q_UNSPECIFIED : Math.round(r.q * 1000),
    socket: r.socket ?? '',
    cseq: r.cseq,
    flags: extras?.flags ?? 0,
    cflags: cflagsFromFlags(extras?.cflags ?? '', r.flags, names),
    methods,
    lastModified: Math.floor(r.lastModified / 1000),
    kvStore: withShtag(extras?.kvStore ?? '', r.shtag),
    match: opts.match ?? MATCH_NONE,
  };
}
