import { SipParseError } from '../errors.js';
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
import { isTokenChar, splitList } from './params.js';
import { parseUri } from './uri.js';

/** Compact header forms (RFC 3261 §7.3.3 and the IANA registry). */
const COMPACT: Record<string, string> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** Lower-case full header name for a name as written (compact forms expanded). */
export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  if (lower.length === 1) return COMPACT[lower] ?? lower;
  return lower;
}

/** One header row exactly as received: name as written, raw bytes (latin1) with folding and CRLF. */
export interface HeaderField {
  readonly name: string;
  /** Canonical lower-case full name (`v` → `via`). */
  readonly key: string;
  /** The whole row as received, folding and terminating CRLF included. */
  readonly raw: string;
  /** The value with surrounding whitespace removed and line folding replaced by one space. */
  readonly value: string;
}

export interface ParseOptions {
  /** Datagram: the body is the rest of the packet (Content-Length may shorten it, never lengthen). */
  readonly datagram?: boolean;
  /** Largest accepted message in bytes (default 65,535). */
  readonly maxBytes?: number;
  /** Largest accepted number of header rows (default 256). */
  readonly maxHeaders?: number;
}

const DEFAULT_MAX_BYTES = 65_535;
const DEFAULT_MAX_HEADERS = 256;
const EMPTY = Buffer.alloc(0);

/** Header rows that may appear once only (RFC 3261 §7.3.1: not comma-separated lists). */
const SINGLE = ['to', 'from', 'call-id', 'cseq', 'max-forwards', 'content-length', 'content-type'];

/** A parsed header row; the value is trimmed and unfolded on first read. */
class HeaderRow implements HeaderField {
  readonly name: string;
  readonly key: string;
  readonly raw: string;
  #valueStart: number;
  #folded: boolean;
  #value: string | undefined;

  constructor(name: string, key: string, raw: string, valueStart: number, folded: boolean) {
    this.name = name;
    this.key = key;
    this.raw = raw;
    this.#valueStart = valueStart;
    this.#folded = folded;
  }

  get value(): string {
    if (this.#value !== undefined) return this.#value;
    const raw = this.raw;
    let vs = this.#valueStart;
    let ve = raw.length - 2;
    while (vs < ve && isLws(raw.charCodeAt(vs))) vs++;
    while (ve > vs && isLws(raw.charCodeAt(ve - 1))) ve--;
    let value = raw.slice(vs, ve);
    if (this.#folded) value = value.replace(/[ \t]*\r\n[ \t]+/g, ' ');
    this.#value = value;
    return value;
  }
}

function makeField(name: string, value: string): HeaderField {
  return { name, key: canonicalHeaderName(name), raw: `${name}: ${value}\r\n`, value };
}

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
    this.body = init.body ?? EMPTY;
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

function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 10) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function isLws(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

interface StartLine {
  isRequest: boolean;
  method: string;
  uri: string;
  status: number;
  reason: string;
}

function parseStartLine(line: string): StartLine {
  if (line.length === 0) throw new SipParseError('start-line', 'empty start line');
  if (line.startsWith('SIP/')) {
    const sp1 = line.indexOf(' ');
    if (sp1 < 0) throw new SipParseError('start-line', 'status line without code');
    checkVersion(line.slice(0, sp1));
    const sp2 = line.indexOf(' ', sp1 + 1);
    const code = line.slice(sp1 + 1, sp2 < 0 ? line.length : sp2);
    if (!isStatusCode(code)) {
      throw new SipParseError('status-code', `bad status code '${code.slice(0, 20)}'`);
    }
    return {
      isRequest: false,
      method: '',
      uri: '',
      status: Number(code),
      reason: sp2 < 0 ? '' : line.slice(sp2 + 1),
    };
  }
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0) {
    throw new SipParseError('start-line', 'request line must be METHOD SP URI SP VERSION');
  }
  const method = line.slice(0, sp1);
  for (let i = 0; i < method.length; i++) {
    if (!isTokenChar(method.charCodeAt(i))) throw new SipParseError('method', 'bad method token');
  }
  const uri = line.slice(sp1 + 1, sp2);
  if (uri.length === 0) throw new SipParseError('request-uri', 'empty Request-URI');
  checkVersion(line.slice(sp2 + 1));
  return { isRequest: true, method, uri, status: 0, reason: '' };
}

function isStatusCode(code: string): boolean {
  if (code.length !== 3) return false;
  const a = code.charCodeAt(0);
  const b = code.charCodeAt(1);
  const c = code.charCodeAt(2);
  return a >= 49 && a <= 54 && b >= 48 && b <= 57 && c >= 48 && c <= 57;
}

/** Header names seen before, as written → canonical key (bounded, so hostile input cannot grow it). */
const NAME_CACHE = new Map<string, string>();
const NAME_CACHE_MAX = 512;

function headerKey(name: string): string | undefined {
  const hit = NAME_CACHE.get(name);
  if (hit !== undefined) return hit;
  if (name.length === 0) return undefined;
  for (let i = 0; i < name.length; i++) if (!isTokenChar(name.charCodeAt(i))) return undefined;
  const key = canonicalHeaderName(name);
  if (NAME_CACHE.size < NAME_CACHE_MAX) NAME_CACHE.set(name, key);
  return key;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

type Latin1 = { latin1Slice(start: number, end: number): string };

/** Buffer#latin1Slice where present (skips toString's argument handling), else toString. */
function latin1(buf: Buffer, start: number, end: number): string {
  const fast = (buf as unknown as Partial<Latin1>).latin1Slice;
  return fast !== undefined ? fast.call(buf, start, end) : buf.toString('latin1', start, end);
}

function checkVersion(v: string): void {
  if (v === 'SIP/2.0') return;
  if (/^SIP\/[0-9]+\.[0-9]+$/i.test(v)) {
    if (v.toUpperCase() === 'SIP/2.0') return;
    throw new SipParseError('version', `unsupported version ${v}`, 505);
  }
  throw new SipParseError('start-line', `bad version '${v.slice(0, 20)}'`);
}

/**
 * Parses one SIP message from a Buffer. Leading CRLFs are skipped (RFC 3261 §7.5). Throws
 * SipParseError for anything that is not a syntactically framed message; run
 * `validateMessage` for the semantic checks a server makes before answering 400.
 */
export function parseMessage(buf: Buffer, options: ParseOptions = {}): SipMessage {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxHeaders = options.maxHeaders ?? DEFAULT_MAX_HEADERS;
  if (buf.length > maxBytes) throw new SipParseError('too-large', `${buf.length} bytes`, 513);
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
  if (start >= buf.length) throw new SipParseError('empty', 'no message');
  // Small messages are decoded whole (one latin1 pass); big ones only up to the blank line.
  let head: string;
  if (buf.length - start <= 4096) head = latin1(buf, start, buf.length);
  else {
    const end = buf.indexOf(CRLFCRLF, start);
    if (end < 0) throw new SipParseError('truncated', 'no empty line after headers');
    head = latin1(buf, start, end + 4);
  }
  const slEnd = head.indexOf('\r\n');
  if (slEnd < 0) throw new SipParseError('truncated', 'no end of start line');
  const startLine = head.slice(0, slEnd);
  const headers: HeaderField[] = [];
  let pos = slEnd + 2;
  let clValue: string | undefined;
  for (;;) {
    let eol = head.indexOf('\r\n', pos);
    if (eol < 0) throw new SipParseError('truncated', 'no empty line after headers');
    if (eol === pos) break;
    let folded = false;
    // a row continues while the next line starts with SP or HTAB (RFC 3261 §7.3.1 folding)
    for (;;) {
      const c = head.charCodeAt(eol + 2);
      if (c !== 32 && c !== 9) break;
      folded = true;
      eol = head.indexOf('\r\n', eol + 2);
      if (eol < 0) throw new SipParseError('truncated', 'no empty line after headers');
    }
    const raw = head.slice(pos, eol + 2);
    const colon = raw.indexOf(':');
    if (colon <= 0) throw new SipParseError('header-syntax', `row without a colon at byte ${pos}`);
    let nameEnd = colon;
    while (nameEnd > 0) {
      const c = raw.charCodeAt(nameEnd - 1);
      if (c !== 32 && c !== 9) break;
      nameEnd--;
    }
    const name = raw.slice(0, nameEnd);
    const key = headerKey(name);
    if (key === undefined)
      throw new SipParseError('header-name', `bad header name '${name.slice(0, 40)}'`);
    const row = new HeaderRow(name, key, raw, colon + 1, folded);
    if (key === 'content-length') {
      const value = row.value;
      if (clValue !== undefined && clValue !== value) {
        throw new SipParseError('content-length', 'conflicting Content-Length rows');
      }
      clValue = value;
    }
    headers.push(row);
    if (headers.length > maxHeaders)
      throw new SipParseError('too-large', 'too many header rows', 513);
    pos = eol + 2;
  }
  const bodyStart = start + pos + 2;
  let bodyEnd = buf.length;
  if (clValue !== undefined) {
    if (!isDigits(clValue)) {
      throw new SipParseError('content-length', `bad Content-Length '${clValue.slice(0, 20)}'`);
    }
    const cl = Number(clValue);
    if (cl > maxBytes) throw new SipParseError('too-large', `Content-Length ${cl}`, 513);
    if (bodyStart + cl > buf.length) {
      throw new SipParseError(
        'truncated',
        `Content-Length ${cl} exceeds the ${buf.length - bodyStart} body bytes`,
      );
    }
    bodyEnd = bodyStart + cl;
  } else if (options.datagram === false) {
    bodyEnd = bodyStart;
  }
  const body = bodyEnd > bodyStart ? buf.subarray(bodyStart, bodyEnd) : EMPTY;
  return new SipMessage({
    startLine,
    headers,
    body,
    source: start === 0 && bodyEnd === buf.length ? buf : buf.subarray(start, bodyEnd),
  });
}

/**
 * The checks a server makes before processing (RFC 3261 §8.2, §16.3, RFC 4475 §3.1.2, §3.3):
 * mandatory headers present and parseable, single-valued headers not repeated, CSeq method equal
 * to the request method, scalar fields in range, Request-URI well formed. Throws SipParseError.
 */
export function validateMessage(msg: SipMessage): void {
  for (const key of ['to', 'from', 'call-id', 'cseq', 'via']) {
    if (!msg.has(key)) throw new SipParseError('header-missing', `no ${key} header`);
  }
  for (const key of SINGLE) {
    if (msg.rows(key).length > 1)
      throw new SipParseError('header-repeated', `${key} appears more than once`);
  }
  if (msg.callId().length === 0) throw new SipParseError('header-syntax', 'empty Call-ID');
  const vias = msg.vias();
  if (vias.length === 0) throw new SipParseError('via', 'empty Via');
  msg.from();
  msg.to();
  const cseq = msg.cseq();
  msg.maxForwards();
  msg.expires();
  msg.contentLength();
  msg.contacts();
  msg.routes();
  msg.recordRoutes();
  const date = msg.header('date');
  if (date !== undefined && !/ GMT$/.test(date)) {
    throw new SipParseError('date', 'Date must be in GMT (RFC 3261 §20.17)');
  }
  if (msg.isRequest) {
    if (cseq.method !== msg.method) {
      throw new SipParseError(
        'cseq-method',
        `CSeq method ${cseq.method} differs from ${msg.method}`,
      );
    }
    validateRequestUri(msg.requestUri);
  } else {
    const ra = msg.header('retry-after');
    if (ra !== undefined) {
      const m = /^([0-9]+)/.exec(ra);
      if (m === null || m[1]!.length > 10 || Number(m[1]) > 2 ** 32 - 1) {
        throw new SipParseError('scalar-range', 'Retry-After out of range');
      }
    }
  }
}

function validateRequestUri(raw: string): void {
  const u = parseUriForValidation(raw);
  if ((u.scheme === 'sip' || u.scheme === 'sips') && 'headers' in u && u.headers.length > 0) {
    throw new SipParseError(
      'request-uri',
      'headers are not allowed in a Request-URI (RFC 3261 §19.1.5)',
    );
  }
}

function parseUriForValidation(raw: string): ReturnType<typeof parseUri> {
  try {
    return parseUri(raw);
  } catch (e) {
    if (e instanceof SipParseError) throw new SipParseError('request-uri', e.message);
    throw e;
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

/** Builds a request from parts (header rows are written in the given order). */
export function createRequest(init: {
  method: string;
  uri: string;
  headers: ReadonlyArray<readonly [string, string]>;
  body?: Buffer;
}): SipMessage {
  const body = init.body ?? EMPTY;
  const headers = init.headers.map(([n, v]) => makeField(n, v));
  if (!headers.some((h) => h.key === 'content-length')) {
    headers.push(makeField('Content-Length', String(body.length)));
  }
  return new SipMessage({ startLine: `${init.method} ${init.uri} SIP/2.0`, headers, body });
}

/**
 * Builds a response to a request (RFC 3261 §8.2.6.2): Via rows, From, Call-ID and CSeq are
 * copied byte for byte; To gets `toTag` when given and not already tagged.
 */
export function createResponse(
  req: SipMessage,
  status: number,
  reason: string,
  options: {
    toTag?: string;
    headers?: ReadonlyArray<readonly [string, string]>;
    body?: Buffer;
  } = {},
): SipMessage {
  const headers: HeaderField[] = [];
  for (const h of req.headers) {
    if (h.key === 'via' || h.key === 'from' || h.key === 'call-id' || h.key === 'cseq')
      headers.push(h);
    else if (h.key === 'to') {
      if (
        options.toTag !== undefined &&
        status > 100 &&
        tagOf(parseNameAddr(h.value)) === undefined
      ) {
        headers.push(makeField(h.name, `${h.value};tag=${options.toTag}`));
      } else headers.push(h);
    }
  }
  for (const [n, v] of options.headers ?? []) headers.push(makeField(n, v));
  const body = options.body ?? EMPTY;
  headers.push(makeField('Content-Length', String(body.length)));
  return new SipMessage({ startLine: `SIP/2.0 ${status} ${reason}`, headers, body });
}
