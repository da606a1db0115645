/** Contact building: a REGISTER's Contact values → the bindings wanted → stored records. */
import {
  getParam,
  isQValue,
  type NameAddr,
  parseNameAddr,
  parseUri,
  type Uri,
  unquoteInstance,
  uriEquals,
} from '@sipedge/sip';
import { type ContactRecord, ownOrNull, ownString, remainingSeconds } from '../model.js';
import type { RegisterContext } from './options.js';
import { reject } from './reject.js';

export interface WantedContact {
  readonly uri: string;
  readonly parsed: Uri;
  readonly params: string;
  readonly expires: number;
  readonly q: number | null;
  readonly instance: string | null;
  readonly regId: number | null;
  readonly methods: string | null;
}

export interface RecordMeta {
  readonly callId: string;
  readonly cseq: number;
  readonly path: readonly string[];
  readonly userAgent: string | null;
  readonly allow: string | null;
  readonly now: number;
  readonly nodeId: number;
}

const MAX_U32 = 2 ** 32 - 1;

function formatParams(params: readonly { name: string; value: string | null }[]): string {
  let s = '';
  for (const p of params) {
    if (p.name === 'expires' || p.name === 'q') continue;
    s += p.value === null ? `;${p.name}` : `;${p.name}=${p.value}`;
  }
  return s;
}

/**
 * One Contact of a REGISTER as the binding it asks for: its URI, the params kept, its lifetime
 * (the contact's `expires`, else the request's, else `defaultExpires`; at most `maxExpires`
 * when that is not 0), q, `+sip.instance`, `reg-id` and `methods`. `pre` is the message's own
 * parse of the value, when it has one. Rejects a malformed one with 400.
 */
export function parseWantedContact(
  raw: string,
  headerExpires: number | undefined,
  pre: NameAddr | undefined,
  defaultExpires: number,
  maxExpires: number,
): WantedContact {
  let na: NameAddr;
  let parsed: Uri;
  try {
    na = pre ?? parseNameAddr(raw);
    parsed = parseUri(na.uri);
  } catch {
    reject(400, 'Bad Request', 'Bad Contact');
  }
  const ep = getParam(na.params, 'expires');
  let expires: number;
  if (ep !== undefined) {
    expires =
      ep !== null && /^[0-9]{1,20}$/.test(ep) ? Math.min(Number(ep), MAX_U32) : defaultExpires;
  } else {
    expires = headerExpires ?? defaultExpires;
  }
  if (maxExpires > 0 && expires > maxExpires) expires = maxExpires;
  const qv = getParam(na.params, 'q');
  let q: number | null = null;
  if (qv !== undefined) {
    if (qv === null || !isQValue(qv)) {
      reject(400, 'Bad Request', 'Invalid q param in contact');
    }
    q = Number(qv);
  }
  const inst = getParam(na.params, '+sip.instance');
  const instance = inst == null ? null : unquoteInstance(inst);
  const rid = getParam(na.params, 'reg-id');
  let regId: number | null = null;
  if (rid !== undefined) {
    if (rid === null || !/^[0-9]{1,9}$/.test(rid)) reject(400, 'Bad Request', 'Invalid reg-id');
    regId = Number(rid);
  }
  const methods = getParam(na.params, 'methods') ?? null;
  return {
    uri: na.uri,
    parsed,
    params: formatParams(na.params),
    expires,
    q,
    instance,
    regId,
    methods,
  };
}

/** The stored binding for a wanted contact, with what the REGISTER and its transport say. */
export function buildRecord(
  id: string,
  aor: string,
  w: WantedContact,
  m: RecordMeta,
  ctx: RegisterContext,
): ContactRecord {
  return {
    id,
    aor,
    uri: ownString(w.uri),
    params: ownString(w.params),
    received: ownOrNull(ctx.received ?? null),
    path: m.path,
    expires: m.now + w.expires * 1000,
    q: w.q,
    callId: m.callId,
    cseq: m.cseq,
    flags: ctx.flags ?? 0,
    userAgent: m.userAgent,
    socket: ownOrNull(ctx.socket ?? null),
    methods: w.methods === null ? m.allow : ownString(w.methods),
    instance: ownOrNull(w.instance),
    regId: w.regId,
    lastModified: m.now,
    nodeId: m.nodeId,
    shtag: ownOrNull(ctx.shtag ?? null),
  };
}

/** A binding as the 200 lists it: `<uri>;params;q=…;expires=<seconds left>`. */
export function contactHeaderValue(b: ContactRecord, now: number): string {
  const q = b.q === null ? '' : `;q=${formatQ(b.q)}`;
  return `<${b.uri}>${b.params}${q};expires=${remainingSeconds(b, now)}`;
}

export function sameUri(a: Uri, stored: string): boolean {
  try {
    return uriEquals(a, parseUri(stored));
  } catch {
    return false;
  }
}

function formatQ(q: number): string {
  return q === 1 ? '1' : q === 0 ? '0' : String(q);
}

/** A refresh changes only the lifetime and CSeq of a binding. */
export function isRefresh(a: ContactRecord, b: ContactRecord): boolean {
  return (
    a.callId === b.callId &&
    a.uri === b.uri &&
    a.params === b.params &&
    a.received === b.received &&
    a.q === b.q &&
    a.socket === b.socket &&
    a.path.length === b.path.length &&
    a.path.every((p, i) => p === b.path[i])
  );
}
