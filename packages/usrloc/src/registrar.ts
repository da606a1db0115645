import { type Logger, noopLogger } from '@sipedge/core';
import type { StatisticsRegistry } from '@sipedge/mi';
import {
  createResponse,
  getParam,
  isSipUri,
  type NameAddr,
  parseNameAddr,
  parseUri,
  type SipMessage,
  type Uri,
  uriEquals,
  uriParam,
} from '@sipedge/sip';
import { type AorOptions, canonicalAor } from './aor.js';
import { UsrlocError } from './errors.js';
import type { AorCommit, ContactChange } from './location/changes.js';
import type { Location } from './location/location.js';
import { type ContactRecord, isValid, ownOrNull, ownString, remainingSeconds } from './model.js';

/** RFC 3327 handling of Path: strict = 420 without `Supported: path`; lazy = echo only with it; off = store, never echo. */
export type PathMode = 'strict' | 'lazy' | 'off';

export interface RegistrarOptions {
  /** Default lifetime when neither the contact nor the request says (s, default 3600). */
  readonly defaultExpires?: number;
  /** Shortest lifetime accepted; below it (and below 3600) → 423 with Min-Expires (default 60). */
  readonly minExpires?: number;
  /** Longest lifetime granted; longer requests are shortened (s, 0 = no limit; default 0). */
  readonly maxExpires?: number;
  /** Most bindings per AoR (0 = no limit, default 0). */
  readonly maxContacts?: number;
  /** What to do past maxContacts: reject with 503 (default) or evict the oldest bindings. */
  readonly maxContactsMode?: 'reject' | 'replace-oldest';
  /** Most Contact values in one REGISTER (default 32); more → 400 before any parsing. */
  readonly maxContactsPerRequest?: number;
  readonly pathMode?: PathMode;
  /** Same Call-ID and equal CSeq within this window of the last change = retransmission (ms, default 20,000; OpenSIPS cseq_delay). */
  readonly retransmissionWindowMs?: number;
  readonly aor?: AorOptions;
  /** Is the To domain ours? No → 404 (default: every domain is). */
  readonly isLocalDomain?: (host: string) => boolean;
  readonly stats?: StatisticsRegistry;
  /** pino-compatible logger (default: none). */
  readonly logger?: Logger;
}

/** Where the REGISTER came from, as the transport knows it. */
export interface RegisterContext {
  /** Source as a SIP URI (`sip:198.51.100.7:5060;transport=udp`), stored as `received`. */
  readonly received?: string;
  /** Logical name of the receiving socket (`udp:10.0.0.1:5060`). */
  readonly socket?: string;
  /** Owner sharing tag for the saved contacts. */
  readonly shtag?: string;
  /** Contact flags to store (NAT, remove-on-timeout …). */
  readonly flags?: number;
  /**
   * A Path value added by the edge that shares this process with the registrar (so requests
   * come back through the node that holds the flow). Stored as the first Path hop, never
   * echoed in the 200 and not subject to the `Supported: path` rule (the UA did not see it).
   */
  readonly ownPath?: string;
}

/** One target of a lookup, in q order. */
export interface Branch {
  readonly uri: string;
  /** Route set for the request: the stored Path values in order (the first carries `;lr`). */
  readonly route: readonly string[];
  /** Where to send: first Path hop, else received, else the contact URI. */
  readonly destination: string;
  readonly received: string | null;
  readonly q: number | null;
  readonly contactId: string;
  readonly instance: string | null;
  readonly regId: number | null;
  readonly socket: string | null;
  readonly flags: number;
}

interface Reject {
  status: number;
  reason: string;
  error: string;
  headers?: [string, string][];
}

class Rejected extends Error {
  constructor(readonly reply: Reject) {
    super(reply.error);
  }
}

function reject(
  status: number,
  reason: string,
  error: string,
  headers?: [string, string][],
): never {
  throw new Rejected(
    headers === undefined ? { status, reason, error } : { status, reason, error, headers },
  );
}

interface WantedContact {
  readonly uri: string;
  readonly parsed: Uri;
  readonly params: string;
  readonly expires: number;
  readonly q: number | null;
  readonly instance: string | null;
  readonly regId: number | null;
  readonly methods: string | null;
}

interface RecordMeta {
  readonly callId: string;
  readonly cseq: number;
  readonly path: readonly string[];
  readonly userAgent: string | null;
  readonly allow: string | null;
  readonly now: number;
  readonly nodeId: number;
}

const MAX_U32 = 2 ** 32 - 1;
const INTERNAL: Reject = { status: 500, reason: 'Server Internal Error', error: 'Internal error' };
const STORE_FAILED: Reject = {
  status: 500,
  reason: 'Server Internal Error',
  error: 'Bindings not saved',
};
const NO_PATH: readonly string[] = Object.freeze([]);
const SUPPORTED_EXTENSIONS = new Set(['path', 'outbound', 'gruu']);

function formatParams(params: readonly { name: string; value: string | null }[]): string {
  let s = '';
  for (const p of params) {
    if (p.name === 'expires' || p.name === 'q') continue;
    s += p.value === null ? `;${p.name}` : `;${p.name}=${p.value}`;
  }
  return s;
}

/** The registrar: RFC 3261 §10.3 `save` and `lookup` over a `Location`. */
export class Registrar {
  readonly location: Location;
  readonly #defaultExpires: number;
  readonly #minExpires: number;
  readonly #maxExpires: number;
  readonly #maxContacts: number;
  readonly #maxMode: 'reject' | 'replace-oldest';
  readonly #maxPerRequest: number;
  readonly #pathMode: PathMode;
  readonly #window: number;
  readonly #aorOptions: AorOptions;
  readonly #isLocal: ((host: string) => boolean) | undefined;
  readonly #accepted;
  readonly #logger: Logger;
  readonly #rejected;
  #tagSeq = 0;
  readonly #tagPrefix = Math.floor(Math.random() * 2 ** 32).toString(36);

  constructor(location: Location, options: RegistrarOptions = {}) {
    this.location = location;
    this.#defaultExpires = options.defaultExpires ?? 3600;
    this.#minExpires = options.minExpires ?? 60;
    this.#maxExpires = options.maxExpires ?? 0;
    this.#maxContacts = options.maxContacts ?? 0;
    this.#maxMode = options.maxContactsMode ?? 'reject';
    this.#maxPerRequest = options.maxContactsPerRequest ?? 32;
    this.#pathMode = options.pathMode ?? 'strict';
    this.#window = options.retransmissionWindowMs ?? 20_000;
    this.#aorOptions = options.aor ?? {};
    this.#isLocal = options.isLocalDomain;
    this.#accepted = options.stats?.counter('registrar', 'accepted_regs');
    this.#logger = options.logger ?? noopLogger;
    this.#rejected = options.stats?.counter('registrar', 'rejected_regs');
  }

  /**
   * Process a REGISTER and return the response to send. Every rejection is decided before
   * anything is written; all binding changes of the request (evictions included) are committed
   * as one batch; the 200 lists every binding of the AoR with its remaining lifetime.
   */
  save(req: SipMessage, ctx: RegisterContext = {}): SipMessage {
    return this.saveMany([{ request: req, ctx }])[0]!;
  }

  /**
   * Group commit: decide each REGISTER in order (each sees the bindings the earlier ones
   * leave), write all their changes in ONE store transaction, and only then return the
   * responses. If that write fails, every REGISTER that would have been accepted gets a 500 and
   * nothing changes. Rejected REGISTERs do not affect the others.
   */
  saveMany(items: readonly { request: SipMessage; ctx?: RegisterContext }[]): SipMessage[] {
    const overlay = new Map<string, readonly ContactRecord[]>();
    const view = (aor: string): readonly ContactRecord[] =>
      overlay.get(aor) ?? this.location.contacts(aor);
    const out: SipMessage[] = [];
    const accepted: number[] = [];
    const commits: AorCommit[] = [];
    for (const { request, ctx } of items) {
      try {
        const d = this.#decide(request, ctx ?? {}, view);
        if (d.commit !== undefined) {
          overlay.set(d.commit.aor, d.commit.next);
          commits.push(d.commit);
        }
        accepted.push(out.length);
        out.push(d.response);
      } catch (err) {
        this.#rejected?.inc();
        if (!(err instanceof Rejected)) this.#logger.error({ err }, 'REGISTER processing failed');
        out.push(this.#reply(request, err instanceof Rejected ? err.reply : INTERNAL));
      }
    }
    try {
      this.location.commitMany(commits);
      this.#accepted?.inc(accepted.length);
    } catch (err) {
      this.#logger.error({ err, registers: accepted.length }, 'location store write failed');
      for (const i of accepted) out[i] = this.#reply(items[i]!.request, STORE_FAILED);
      this.#rejected?.inc(accepted.length);
    }
    return out;
  }

  #reply(req: SipMessage, r: Reject): SipMessage {
    const headers: [string, string][] = [...(r.headers ?? []), ['P-Registrar-Error', r.error]];
    return createResponse(req, r.status, r.reason, { toTag: this.#toTag(), headers });
  }

  #toTag(): string {
    this.#tagSeq++;
    return `${this.#tagPrefix}${this.#tagSeq.toString(36)}`;
  }

  #decide(
    req: SipMessage,
    ctx: RegisterContext,
    view: (aor: string) => readonly ContactRecord[],
  ): { response: SipMessage; commit: AorCommit | undefined } {
    if (!req.isRequest || req.method !== 'REGISTER') {
      reject(405, 'Method Not Allowed', 'Not a REGISTER', [['Allow', 'REGISTER']]);
    }
    // 1. Extensions and Path are decided first (RFC 3261 §10.3 step 2, RFC 3327 §5.3).
    let required: string[];
    let supported: string[];
    let pathValues: string[];
    try {
      required = req.require().map((s) => s.toLowerCase());
      supported = req.supported().map((s) => s.toLowerCase());
      pathValues = req.values('path');
    } catch {
      reject(400, 'Bad Request', 'Malformed Require, Supported or Path');
    }
    const unknown = required.filter((x) => !SUPPORTED_EXTENSIONS.has(x));
    if (unknown.length > 0) {
      reject(420, 'Bad Extension', 'Unsupported extension', [['Unsupported', unknown.join(', ')]]);
    }
    const pathSupported = supported.includes('path');
    if (pathValues.length > 0 && this.#pathMode === 'strict' && !pathSupported) {
      reject(420, 'Bad Extension', 'Path not supported by the UA', [
        ['Unsupported', 'path'],
        ...pathValues.map((p): [string, string] => ['Path', p]),
      ]);
    }
    for (let i = 0; i < pathValues.length; i++) {
      let lr: string | null | undefined;
      try {
        const u = parseUri(parseNameAddr(pathValues[i]!).uri);
        if (!isSipUri(u)) throw new Error('not sip');
        lr = uriParam(u, 'lr');
      } catch {
        reject(400, 'Bad Request', 'Bad Path header');
      }
      if (i === 0 && lr === undefined) reject(400, 'Bad Request', 'Path without lr');
    }

    // 2. AoR from To (§10.3 step 5).
    let aor: string;
    try {
      const toUri = req.to().uri;
      aor = canonicalAor(toUri, this.#aorOptions);
      if (this.#isLocal !== undefined) {
        const u = parseUri(toUri);
        if (isSipUri(u) && !this.#isLocal(u.host.toLowerCase())) {
          reject(404, 'Not Found', 'Domain not served here');
        }
      }
    } catch (err) {
      if (err instanceof Rejected) throw err;
      if (err instanceof UsrlocError && err.code === 'USRLOC_AOR_TOO_LONG') {
        reject(500, 'Server Internal Error', 'Address Of Record too long');
      }
      reject(400, 'Bad Request', 'Bad To header');
    }

    let callId: string;
    let cseq: number;
    try {
      callId = req.callId();
      cseq = req.cseq().seq;
    } catch {
      reject(400, 'Bad Request', 'Bad Call-ID or CSeq');
    }

    let headerExpires: number | undefined;
    try {
      headerExpires = req.expires();
    } catch {
      headerExpires = this.#defaultExpires; // malformed → treat as the default (§10.2)
    }

    // 3. Contacts.
    let rawContacts: string[];
    try {
      rawContacts = req.values('contact');
    } catch {
      reject(400, 'Bad Request', 'Bad Contact header');
    }
    if (rawContacts.length > this.#maxPerRequest) {
      reject(400, 'Bad Request', 'Too many Contacts in request');
    }
    const star = rawContacts.some((c) => c.trim() === '*');
    if (star) {
      if (rawContacts.length > 1)
        reject(400, 'Bad Request', 'Invalid contact *: more than one contact');
      if (headerExpires !== 0)
        reject(400, 'Bad Request', '* used in contact and expires is not zero');
    }
    // the message's own parse (memoized, usually done by validation already) saves a second
    // name-addr parse per Contact; if it refuses a value, each is parsed here with our errors
    let pre: readonly NameAddr[] | undefined;
    try {
      pre = star ? undefined : req.contacts();
    } catch {
      pre = undefined;
    }
    const wanted = star
      ? []
      : rawContacts.map((raw, i) => this.#parseContact(raw, headerExpires, pre?.[i]));
    for (const w of wanted) {
      if (w.expires > 0 && w.expires < this.#minExpires && w.expires < 3600) {
        reject(423, 'Interval Too Brief', 'Expires too brief', [
          ['Min-Expires', String(this.#minExpires)],
        ]);
      }
    }

    // 4. Decide every change on a working copy; nothing is written yet.
    const now = this.location.clock.now();
    const nodeId = this.location.nodeId;
    const stored = view(aor);
    const changes = new Map<string, ContactChange>();
    const working: ContactRecord[] = [];
    for (const c of stored) {
      if (isValid(c, now)) working.push(c);
      else changes.set(c.id, { type: 'delete', contact: c, reason: 'expired' });
    }
    const touched = new Set<string>();

    if (star) {
      for (const b of working) {
        if (b.callId === callId && cseq <= b.cseq) {
          reject(500, 'Server Internal Error', 'Out of order CSeq for *');
        }
      }
      for (const b of working)
        changes.set(b.id, { type: 'delete', contact: b, reason: 'unregister' });
      working.length = 0;
    }

    aor = ownString(aor);
    const pathToStore = ctx.ownPath === undefined ? pathValues : [ctx.ownPath, ...pathValues];
    const path = pathToStore.length === 0 ? NO_PATH : pathToStore.map(ownString);
    const userAgent = ownOrNull(req.header('user-agent') ?? null);
    const allow =
      req.header('allow') === undefined ? null : ownString(req.values('allow').join(','));
    callId = ownString(callId);
    const meta: RecordMeta = { callId, cseq, path, userAgent, allow, now, nodeId };
    for (const w of wanted) {
      const idx = working.findIndex((b) =>
        w.instance !== null && w.regId !== null
          ? b.instance === w.instance && b.regId === w.regId
          : sameUri(w.parsed, b.uri),
      );
      const b = idx >= 0 ? working[idx] : undefined;
      if (b !== undefined) {
        if (b.callId === callId) {
          if (cseq < b.cseq) reject(500, 'Server Internal Error', 'Out of order CSeq');
          if (cseq === b.cseq) {
            if (touched.has(b.id) || now - b.lastModified <= this.#window) continue; // retransmission
            reject(500, 'Server Internal Error', 'Repeated CSeq');
          }
        }
        touched.add(b.id);
        if (w.expires === 0) {
          working.splice(idx, 1);
          const prev = changes.get(b.id);
          if (prev?.type === 'insert') changes.delete(b.id);
          else
            changes.set(b.id, {
              type: 'delete',
              contact: stored.find((s) => s.id === b.id) ?? b,
              reason: 'unregister',
            });
          continue;
        }
        const rec = this.#record(b.id, aor, w, meta, ctx);
        working[idx] = rec;
        const prev = changes.get(b.id);
        const type = prev?.type === 'insert' ? 'insert' : isRefresh(b, rec) ? 'refresh' : 'update';
        changes.set(b.id, { type, contact: rec, reason: 'register' });
      } else if (w.expires > 0) {
        const rec = this.#record(this.location.ids.next(), aor, w, meta, ctx);
        working.push(rec);
        touched.add(rec.id);
        changes.set(rec.id, { type: 'insert', contact: rec, reason: 'register' });
      }
    }

    // 5. Max contacts per AoR: reject, or evict the oldest untouched bindings.
    if (this.#maxContacts > 0 && working.length > this.#maxContacts) {
      if (this.#maxMode === 'reject') {
        reject(503, 'Service Unavailable', 'Too many registered contacts');
      }
      const victims = working
        .filter((b) => !touched.has(b.id))
        .sort((a, b) => a.lastModified - b.lastModified);
      while (working.length > this.#maxContacts) {
        const v = victims.shift();
        if (v === undefined) reject(503, 'Service Unavailable', 'Too many registered contacts');
        working.splice(working.indexOf(v), 1);
        changes.set(v.id, { type: 'delete', contact: v, reason: 'evicted' });
      }
    }

    // 6. One atomic commit, then the 200 from the committed state.
    const commit =
      changes.size > 0 ? { aor, next: working, changes: [...changes.values()] } : undefined;
    const headers: [string, string][] = [];
    if (pathValues.length > 0 && this.#pathMode !== 'off' && pathSupported) {
      for (const p of pathValues) headers.push(['Path', p]);
    }
    for (const b of working) {
      const q = b.q === null ? '' : `;q=${formatQ(b.q)}`;
      headers.push(['Contact', `<${b.uri}>${b.params}${q};expires=${remainingSeconds(b, now)}`]);
    }
    headers.push(['Date', new Date(now).toUTCString()]);
    return { response: createResponse(req, 200, 'OK', { toTag: this.#toTag(), headers }), commit };
  }

  #parseContact(
    raw: string,
    headerExpires: number | undefined,
    pre: NameAddr | undefined,
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
        ep !== null && /^[0-9]{1,20}$/.test(ep)
          ? Math.min(Number(ep), MAX_U32)
          : this.#defaultExpires;
    } else {
      expires = headerExpires ?? this.#defaultExpires;
    }
    if (this.#maxExpires > 0 && expires > this.#maxExpires) expires = this.#maxExpires;
    const qv = getParam(na.params, 'q');
    let q: number | null = null;
    if (qv !== undefined) {
      if (qv === null || !/^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/.test(qv)) {
        reject(400, 'Bad Request', 'Invalid q param in contact');
      }
      q = Number(qv);
    }
    let instance = getParam(na.params, '+sip.instance') ?? null;
    if (instance !== null) {
      if (instance.startsWith('"') && instance.endsWith('"')) instance = instance.slice(1, -1);
      if (instance.startsWith('<') && instance.endsWith('>')) instance = instance.slice(1, -1);
    }
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

  #record(
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

  /** The valid bindings of an AoR (URI, name-addr or `user@host`) as branches, best q first. */
  /** First Path hop → its URI (hops are few and shared by many bindings; bounded cache). */
  readonly #hopUris = new Map<string, string>();

  #hopUri(hop: string): string {
    let uri = this.#hopUris.get(hop);
    if (uri === undefined) {
      uri = parseNameAddr(hop).uri;
      if (this.#hopUris.size >= 1024) this.#hopUris.clear();
      this.#hopUris.set(hop, uri);
    }
    return uri;
  }

  lookup(aorOrUri: string): Branch[] {
    let aor: string;
    try {
      aor = canonicalAor(aorOrUri, this.#aorOptions);
    } catch {
      return [];
    }
    const now = this.location.clock.now();
    const list = this.location.contacts(aor).filter((c) => isValid(c, now));
    if (list.length > 1)
      list.sort((a, b) => (b.q ?? 1) - (a.q ?? 1) || b.lastModified - a.lastModified);
    return list.map((c) => ({
      uri: c.uri,
      route: c.path,
      destination: c.path.length > 0 ? this.#hopUri(c.path[0]!) : (c.received ?? c.uri),
      received: c.received,
      q: c.q,
      contactId: c.id,
      instance: c.instance,
      regId: c.regId,
      socket: c.socket,
      flags: c.flags,
    }));
  }
}

function sameUri(a: Uri, stored: string): boolean {
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
function isRefresh(a: ContactRecord, b: ContactRecord): boolean {
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
