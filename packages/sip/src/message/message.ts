import { SipParseError } from '../errors.js';
import { canonicalHeaderName, type HeaderField, makeField } from './header-field.js';
import {
  type Contact,
  type CSeq,
  type NameAddr,
  parseContact,
  parseCSeq,
  parseNameAddr,
  parseUint,
  parseVia,
  tagOf,
  type Via,
} from './headers.js';
import { splitList } from './params.js';
import { parseStartLine } from './start-line.js';

/** An empty body (shared). */
export const EMPTY_BODY = Buffer.alloc(0);

/**
 * A SIP request or response. Headers are an ordered list of raw rows; accessors parse lazily
 * and edits replace only the rows they touch, so `toBuffer()` of an untouched message returns
 * the bytes it was parsed from.
 */
export class SipMessage {
  /** The start line without its CRLF. */
  startLine: string;
  readonly headers: HeaderField[];
  body: Buffer;
  readonly isRequest: boolean;
  method: string;
  requestUri: string;
  readonly status: number;
  readonly reason: string;
  #source: Buffer | null;
  #cache: Map<string, unknown> | undefined;
  #topVia: Via | undefined;
  #from: NameAddr | undefined;
  #to: NameAddr | undefined;
  #cseq: CSeq | undefined;

  constructor(init: {
    startLine: string;
    headers: HeaderField[];
    body?: Buffer;
    source?: Buffer | null;
  }) {
    this.startLine = init.startLine;
    this.headers = init.headers;
    this.body = init.body ?? EMPTY_BODY;
    this.#source = init.source ?? null;
    const sl = parseStartLine(init.startLine);
    this.isRequest = sl.isRequest;
    this.method = sl.method;
    this.requestUri = sl.uri;
    this.status = sl.status;
    this.reason = sl.reason;
  }

  /** True until an edit is made: `toBuffer()` then returns the parsed bytes themselves. */
  get untouched(): boolean {
    return this.#source !== null;
  }

  /** Marks the message edited; drops cached parses of `key` (all of them when not given). */
  #touch(key?: string): void {
    this.#source = null;
    if (key === undefined || key === 'via') this.#topVia = undefined;
    if (key === undefined || key === 'from') this.#from = undefined;
    if (key === undefined || key === 'to') this.#to = undefined;
    if (key === undefined || key === 'cseq') this.#cseq = undefined;
    if (key === undefined || this.#cache === undefined) {
      this.#cache = undefined;
      return;
    }
    this.#cache.delete(`v:${key}`);
    this.#cache.delete(key);
  }

  #memo<T>(key: string, compute: () => T): T {
    this.#cache ??= new Map();
    if (this.#cache.has(key)) return this.#cache.get(key) as T;
    const v = compute();
    this.#cache.set(key, v);
    return v;
  }

  // ---- generic header access ----------------------------------------------------------

  /** The first row's value for a header (compact names accepted), or undefined. */
  header(name: string): string | undefined {
    const key = canonicalHeaderName(name);
    for (const h of this.headers) if (h.key === key) return h.value;
    return undefined;
  }

  /** All rows of one header, in order. */
  rows(name: string): HeaderField[] {
    const key = canonicalHeaderName(name);
    return this.headers.filter((h) => h.key === key);
  }

  /** All list elements of a header across its rows, split on top-level commas. */
  values(name: string): string[] {
    const key = canonicalHeaderName(name);
    return this.#memo(`v:${key}`, () => {
      const out: string[] = [];
      for (const h of this.headers) {
        if (h.key !== key) continue;
        if (h.value.indexOf(',') < 0) out.push(h.value);
        else for (const e of splitList(h.value)) out.push(e);
      }
      return out;
    });
  }

  has(name: string): boolean {
    return this.header(name) !== undefined;
  }

  // ---- typed accessors ------------------------------------------------------------------

  vias(): Via[] {
    return this.#memo('via', () => this.values('via').map(parseVia));
  }

  topVia(): Via | undefined {
    if (this.#topVia !== undefined) return this.#topVia;
    const first = this.#first('via');
    if (first === undefined) return undefined;
    this.#topVia = parseVia(first.indexOf(',') < 0 ? first : (splitList(first)[0] ?? ''));
    return this.#topVia;
  }

  from(): NameAddr {
    this.#from ??= parseNameAddr(this.#required('from'));
    return this.#from;
  }

  to(): NameAddr {
    this.#to ??= parseNameAddr(this.#required('to'));
    return this.#to;
  }

  fromTag(): string | undefined {
    return tagOf(this.from());
  }

  toTag(): string | undefined {
    return tagOf(this.to());
  }

  callId(): string {
    return this.#required('call-id');
  }

  cseq(): CSeq {
    this.#cseq ??= parseCSeq(this.#required('cseq'));
    return this.#cseq;
  }

  maxForwards(): number | undefined {
    const v = this.header('max-forwards');
    return v === undefined ? undefined : parseUint(v, 255, 'max-forwards');
  }

  contacts(): Contact[] {
    return this.#memo('contact', () => this.values('contact').map(parseContact));
  }

  routes(): NameAddr[] {
    return this.#memo('route', () => this.values('route').map(parseNameAddr));
  }

  recordRoutes(): NameAddr[] {
    return this.#memo('record-route', () => this.values('record-route').map(parseNameAddr));
  }

  paths(): NameAddr[] {
    return this.#memo('path', () => this.values('path').map(parseNameAddr));
  }

  supported(): string[] {
    return this.values('supported').filter((s) => s.length > 0);
  }

  require(): string[] {
    return this.values('require').filter((s) => s.length > 0);
  }

  expires(): number | undefined {
    const v = this.header('expires');
    return v === undefined ? undefined : parseUint(v, 2 ** 32 - 1, 'scalar-range');
  }

  minExpires(): number | undefined {
    const v = this.header('min-expires');
    return v === undefined ? undefined : parseUint(v, 2 ** 32 - 1, 'scalar-range');
  }

  contentType(): string | undefined {
    return this.header('content-type');
  }

  contentLength(): number | undefined {
    const v = this.header('content-length');
    return v === undefined ? undefined : parseUint(v, 2 ** 31 - 1, 'content-length');
  }

  /** First value of a header by canonical key (no name normalisation). */
  #first(key: string): string | undefined {
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) if (hs[i]!.key === key) return hs[i]!.value;
    return undefined;
  }

  #required(key: string): string {
    const v = this.#first(key);
    if (v === undefined) throw new SipParseError('header-missing', `no ${key} header`);
    return v;
  }

  // ---- edits: each touches only the rows it names -------------------------------------

  #indexOf(key: string): number {
    for (let i = 0; i < this.headers.length; i++) if (this.headers[i]!.key === key) return i;
    return -1;
  }

  /** Inserts a row above the first row of the same header (or at the top of the header block). */
  prependHeader(name: string, value: string): this {
    const f = makeField(name, value);
    const at = this.#indexOf(f.key);
    this.headers.splice(at < 0 ? 0 : at, 0, f);
    this.#touch(f.key);
    return this;
  }

  /** Adds a row after the last row of the same header, or at the end of the header block. */
  appendHeader(name: string, value: string): this {
    const f = makeField(name, value);
    let at = -1;
    for (let i = 0; i < this.headers.length; i++) if (this.headers[i]!.key === f.key) at = i;
    this.headers.splice(at < 0 ? this.headers.length : at + 1, 0, f);
    this.#touch(f.key);
    return this;
  }

  /**
   * Removes the first list element of a header and returns it. A row holding several
   * comma-separated elements is rewritten without the first; a row holding one is removed.
   */
  removeFirstValue(name: string): string | undefined {
    const key = canonicalHeaderName(name);
    const at = this.#indexOf(key);
    if (at < 0) return undefined;
    const row = this.headers[at]!;
    const parts = splitList(row.value);
    const first = parts.shift();
    if (parts.length === 0) this.headers.splice(at, 1);
    else this.headers[at] = makeField(row.name, parts.join(', '));
    this.#touch(key);
    return first;
  }

  /** Removes the last list element of a header (rewriting or removing only its row). */
  removeLastValue(name: string): string | undefined {
    const key = canonicalHeaderName(name);
    let at = -1;
    for (let i = 0; i < this.headers.length; i++) if (this.headers[i]!.key === key) at = i;
    if (at < 0) return undefined;
    const row = this.headers[at]!;
    const parts = splitList(row.value);
    const last = parts.pop();
    if (parts.length === 0) this.headers.splice(at, 1);
    else this.headers[at] = makeField(row.name, parts.join(', '));
    this.#touch(key);
    return last;
  }

  /** Replaces the first list element of a header, keeping the row's other elements and name. */
  setFirstValue(name: string, value: string): this {
    const key = canonicalHeaderName(name);
    const at = this.#indexOf(key);
    if (at < 0) return this.prependHeader(name, value);
    const row = this.headers[at]!;
    if (row.value.indexOf(',') < 0) this.headers[at] = makeField(row.name, value);
    else {
      const parts = splitList(row.value);
      parts[0] = value;
      this.headers[at] = makeField(row.name, parts.join(', '));
    }
    this.#touch(key);
    return this;
  }

  prependVia(value: string): this {
    return this.prependHeader('Via', value);
  }

  removeTopVia(): string | undefined {
    return this.removeFirstValue('via');
  }

  prependRecordRoute(value: string): this {
    return this.prependHeader('Record-Route', value);
  }

  prependRoute(value: string): this {
    return this.prependHeader('Route', value);
  }

  removeTopRoute(): string | undefined {
    return this.removeFirstValue('route');
  }

  prependPath(value: string): this {
    return this.prependHeader('Path', value);
  }

  /** Replaces the value of the first row (keeping its name as written); removes later rows. */
  setHeader(name: string, value: string): this {
    const key = canonicalHeaderName(name);
    const at = this.#indexOf(key);
    if (at < 0) {
      this.headers.push(makeField(name, value));
    } else {
      this.headers[at] = makeField(this.headers[at]!.name, value);
      for (let i = this.headers.length - 1; i > at; i--) {
        if (this.headers[i]!.key === key) this.headers.splice(i, 1);
      }
    }
    this.#touch(key);
    return this;
  }

  /** Removes every row of a header; returns how many were removed. */
  removeHeader(name: string): number {
    const key = canonicalHeaderName(name);
    let n = 0;
    for (let i = this.headers.length - 1; i >= 0; i--) {
      if (this.headers[i]!.key === key) {
        this.headers.splice(i, 1);
        n++;
      }
    }
    if (n > 0) this.#touch(key);
    return n;
  }

  /** Replaces the body and its Content-Length (and Content-Type when given). */
  setBody(body: Buffer, contentType?: string): this {
    this.body = body;
    this.setHeader('Content-Length', String(body.length));
    if (contentType !== undefined) this.setHeader('Content-Type', contentType);
    this.#touch();
    return this;
  }

  setRequestUri(uri: string): this {
    if (!this.isRequest) throw new TypeError('not a request');
    this.requestUri = uri;
    this.startLine = `${this.method} ${uri} SIP/2.0`;
    this.#touch();
    return this;
  }

  /** Serialises: the original bytes when untouched, otherwise start line + rows + body. */
  toBuffer(): Buffer {
    if (this.#source !== null) return this.#source;
    let head = `${this.startLine}\r\n`;
    for (const h of this.headers) head += h.raw;
    head += '\r\n';
    const headLen = Buffer.byteLength(head, 'latin1');
    const out = Buffer.allocUnsafe(headLen + this.body.length);
    out.write(head, 0, 'latin1');
    this.body.copy(out, headLen);
    return out;
  }

  toString(): string {
    return this.toBuffer().toString('latin1');
  }
}

/** From, To (with tag) and Call-ID — the dialog-relevant identifiers of a message. */
export function dialogIds(msg: SipMessage): {
  callId: string;
  fromTag: string | undefined;
  toTag: string | undefined;
} {
  return { callId: msg.callId(), fromTag: msg.fromTag(), toTag: msg.toTag() };
}
