/**
 * Header rows as the parser keeps them (name as written, raw bytes, value read on first use),
 * and the names: compact forms, canonical keys.
 */
import { isTokenChar } from './params.js';

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

/** A parsed header row; the value is trimmed and unfolded on first read. */
export class HeaderRow implements HeaderField {
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

export function makeField(name: string, value: string): HeaderField {
  return { name, key: canonicalHeaderName(name), raw: `${name}: ${value}\r\n`, value };
}

function isLws(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

/** Header names seen before, as written → canonical key (bounded, so hostile input cannot grow it). */
const NAME_CACHE = new Map<string, string>();
const NAME_CACHE_MAX = 512;

export function headerKey(name: string): string | undefined {
  const hit = NAME_CACHE.get(name);
  if (hit !== undefined) return hit;
  if (name.length === 0) return undefined;
  for (let i = 0; i < name.length; i++) if (!isTokenChar(name.charCodeAt(i))) return undefined;
  const key = canonicalHeaderName(name);
  if (NAME_CACHE.size < NAME_CACHE_MAX) NAME_CACHE.set(name, key);
  return key;
}
