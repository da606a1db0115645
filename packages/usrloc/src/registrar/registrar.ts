import { type Logger, noopLogger } from '@sipedge/core';
import { createResponse, type NameAddr, parseNameAddr, type SipMessage } from '@sipedge/sip';
import { type AorOptions, canonicalAor } from '../aor.js';
import type { AorCommit, ContactChange } from '../location/changes.js';
import type { Location } from '../location/location.js';
import { type ContactRecord, isValid, ownOrNull, ownString } from '../model.js';
import {
  buildRecord,
  contactHeaderValue,
  isRefresh,
  parseWantedContact,
  type RecordMeta,
  sameUri,
} from './contact.js';
import type { Branch, PathMode, RegisterContext, RegistrarOptions } from './options.js';
import { INTERNAL, type Reject, Rejected, reject, STORE_FAILED } from './reject.js';
import { checkPath, checkRequired, registerAor } from './request.js';

const NO_PATH: readonly string[] = Object.freeze([]);

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
    this.#accepted = options.stats?.counter(
      'registrar',
      'accepted_regs',
      'REGISTER requests accepted',
    );
    this.#logger = options.logger ?? noopLogger;
    this.#rejected = options.stats?.counter(
      'registrar',
      'rejected_regs',
      'REGISTER requests rejected',
    );
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
    checkRequired(required);
    const pathSupported = supported.includes('path');
    checkPath(pathValues, pathSupported, this.#pathMode);

    // 2. AoR from To (§10.3 step 5).
    let aor = registerAor(req, this.#aorOptions, this.#isLocal);

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
      : rawContacts.map((raw, i) =>
          parseWantedContact(raw, headerExpires, pre?.[i], this.#defaultExpires, this.#maxExpires),
        );
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
        const built = buildRecord(b.id, aor, w, meta, ctx);
        // what an OpenSIPS node wrote for this binding and sipedge has no field for stays
        const rec = b.opensips === undefined ? built : { ...built, opensips: b.opensips };
        working[idx] = rec;
        const prev = changes.get(b.id);
        const type = prev?.type === 'insert' ? 'insert' : isRefresh(b, rec) ? 'refresh' : 'update';
        changes.set(b.id, { type, contact: rec, reason: 'register' });
      } else if (w.expires > 0) {
        const rec = buildRecord(this.location.ids.next(), aor, w, meta, ctx);
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
      headers.push(['Contact', contactHeaderValue(b, now)]);
    }
    headers.push(['Date', this.#date(now)]);
    return { response: createResponse(req, 200, 'OK', { toTag: this.#toTag(), headers }), commit };
  }

  /** The Date header of the second `now` falls in (one Date object a second, not a REGISTER). */
  #date(now: number): string {
    const second = Math.floor(now / 1000);
    if (second !== this.#dateSecond) {
      this.#dateSecond = second;
      this.#dateText = new Date(second * 1000).toUTCString();
    }
    return this.#dateText;
  }

  #dateSecond = Number.NaN;
  #dateText = '';

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

  /** The valid bindings of an AoR (URI, name-addr or `user@host`) as branches, best q first. */
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
