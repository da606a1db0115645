/**
 * Reply codec (docs/protocols/rtpproxy.md §1.3, §2.3, §2.7, §2.9, §6.4): body text (cookie already
 * removed) ⇄ RtppReply. What a reply means depends on the command it answers (`0` is a lookup miss
 * for L, success for D), so `parseReply` takes the command kind when it is known and checks the
 * reply has the shape that command gets; without it, the shape is guessed from the text.
 *
 * Anything that is not a reply of rtpproxy, rtpengine or rtp_cluster throws RtppProtocolError,
 * so a client can count a peer answering garbage as a failure.
 */
import { RtppArgumentError, RtppProtocolError } from '../errors.js';
import type {
  RtppCommandKind,
  RtppErrorReply,
  RtppInfoReply,
  RtppListReply,
  RtppPortReply,
  RtppReply,
  RtppValueReply,
} from '../types.js';

/** Longest reply accepted (rtpproxy's own reply buffer is 1 KiB; I replies stay well below). */
export const MAX_REPLY_LENGTH = 4096;

const NO_RESULTS: readonly string[] = Object.freeze([]);

function garbage(text: string, why: string): RtppProtocolError {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return new RtppProtocolError(`${why}: ${JSON.stringify(shown)}`);
}

/** Digits only, at least one. */
function isDigits(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** An optionally signed decimal, integer or with a fraction (`%d`, `%f` output). */
function isNumber(s: string): boolean {
  const n = s.length;
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  let digits = 0;
  let dot = false;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46 && !dot) dot = true;
    else return false;
  }
  return digits > 0;
}

/**
 * Splits the body (end of line already removed) into blank-separated tokens; throws on control
 * characters. Returns the tokens and where `&&` separators are.
 */
function words(body: string, text: string): string[] {
  const out: string[] = [];
  const n = body.length;
  let start = -1;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? body.charCodeAt(i) : 32;
    if (c === 32 || c === 9) {
      if (start >= 0) {
        out.push(body.slice(start, i));
        start = -1;
      }
    } else if (c < 32 || c === 127) {
      throw garbage(text, 'control characters in reply');
    } else if (start < 0) start = i;
  }
  return out;
}

/** Index of the first `&&` token, or the length. */
function mainEnd(t: readonly string[]): number {
  for (let i = 0; i < t.length; i++) if (t[i] === '&&') return i;
  return t.length;
}

/** `&& r1 && r2 …` after index `from` (pointing at the first `&&`). */
function subResults(t: readonly string[], from: number, text: string): readonly string[] {
  if (from >= t.length) return NO_RESULTS;
  const out: string[] = [];
  let cur = '';
  for (let i = from + 1; i <= t.length; i++) {
    const w = i < t.length ? t[i]! : '&&';
    if (w === '&&') {
      if (cur === '') throw garbage(text, 'empty sub-command result');
      out.push(cur);
      cur = '';
    } else cur = cur === '' ? w : `${cur} ${w}`;
  }
  return out;
}

function portFrom(t: readonly string[], text: string): RtppPortReply {
  const end = mainEnd(t);
  if (end < 1 || end > 3) throw garbage(text, 'not a port reply');
  const p = t[0]!;
  if (!isDigits(p) || p.length > 5) throw garbage(text, 'not a port reply');
  const port = Number(p);
  if (port > 65535) throw garbage(text, 'port out of range');
  const reply: { -readonly [K in keyof RtppPortReply]: RtppPortReply[K] } = {
    kind: 'port',
    port,
    ipv6: false,
    subResults: subResults(t, end, text),
  };
  if (end >= 2) reply.address = t[1]!;
  if (end === 3) {
    const third = t[2]!;
    if (third === '6') reply.ipv6 = true;
    else if (isDigits(third)) reply.family = third;
    else throw garbage(text, 'not a port reply');
  }
  return reply;
}

function infoFrom(body: string, text: string): RtppInfoReply {
  const entries: (readonly [string, string])[] = [];
  let from = 0;
  const n = body.length;
  while (from <= n) {
    let nl = body.indexOf('\n', from);
    if (nl < 0) nl = n;
    let lineEnd = nl;
    if (lineEnd > from && body.charCodeAt(lineEnd - 1) === 13) lineEnd--;
    if (lineEnd > from) {
      const line = body.slice(from, lineEnd);
      const colon = line.indexOf(':');
      if (colon <= 0) throw garbage(text, 'not a "key: value" line');
      for (let i = 0; i < line.length; i++) {
        const c = line.charCodeAt(i);
        if ((c < 32 && c !== 9) || c === 127) throw garbage(text, 'control characters in reply');
      }
      const key = line.slice(0, colon).trim();
      if (key === '') throw garbage(text, 'not a "key: value" line');
      entries.push([key, line.slice(colon + 1).trim()]);
    }
    from = nl + 1;
  }
  if (entries.length === 0) throw garbage(text, 'empty info reply');
  return { kind: 'info', entries };
}

function listFrom(t: readonly string[], text: string, allowEmpty: boolean): RtppListReply {
  const end = mainEnd(t);
  const results = subResults(t, end, text);
  if (end === 0) {
    if (!allowEmpty) throw garbage(text, 'empty list reply');
    return { kind: 'list', values: NO_RESULTS, subResults: results };
  }
  const named = t[0]!.indexOf('=') > 0;
  const values: string[] = [];
  const names: string[] | undefined = named ? [] : undefined;
  for (let i = 0; i < end; i++) {
    const w = t[i]!;
    const eq = w.indexOf('=');
    if (names !== undefined) {
      if (eq <= 0) throw garbage(text, 'mixed name=value and plain values');
      names.push(w.slice(0, eq));
      values.push(w.slice(eq + 1));
    } else {
      if (eq >= 0) throw garbage(text, 'mixed name=value and plain values');
      values.push(w);
    }
  }
  return names === undefined
    ? { kind: 'list', values, subResults: results }
    : { kind: 'list', values, names, subResults: results };
}

function valueFrom(t: readonly string[], text: string, numeric: boolean): RtppValueReply {
  if (t.length !== 1) throw garbage(text, 'expected a single value');
  const v = t[0]!;
  if (numeric && !isNumber(v)) throw garbage(text, 'expected a number');
  return { kind: 'value', value: v };
}

function errorFrom(body: string): RtppErrorReply | undefined {
  if (body.length < 2 || body.length > 10 || body.charCodeAt(0) !== 69) return undefined;
  const digits = body.slice(1);
  return isDigits(digits) ? { kind: 'error', code: Number(digits) } : undefined;
}

/**
 * Parses a reply body (with or without its trailing newline) as the answer to a command of
 * `kind`, or guesses the shape when `kind` is not given. Throws RtppProtocolError for text that
 * is not a reply of the expected shape.
 */
export function parseReply(text: string, kind?: RtppCommandKind): RtppReply {
  if (text.length > MAX_REPLY_LENGTH) throw garbage(text, 'reply too long');
  let end = text.length;
  while (end > 0) {
    const c = text.charCodeAt(end - 1);
    if (c === 10 || c === 13) end--;
    else break;
  }
  const body = end === text.length ? text : text.slice(0, end);
  const error = errorFrom(body);
  if (error !== undefined) return error;
  if (kind === 'I' || (kind === undefined && isInfoText(body))) return infoFrom(body, text);
  if (body.indexOf('\n') >= 0) throw garbage(text, 'unexpected line break in reply');
  const t = words(body, text);
  switch (kind) {
    case 'U':
    case 'L':
      return portFrom(t, text);
    case 'C':
      // `Cp` answers the port of its sending socket; plain C answers 0
      return t.length > 1 ? portFrom(t, text) : valueFrom(t, text, true);
    case 'G':
      return listFrom(t, text, true);
    case 'Q':
      return listFrom(t, text, false);
    case undefined:
      return guess(t, text);
    default:
      // V, VF, D, P, S, R, N, X
      return valueFrom(t, text, true);
  }
}

/** `key words: value` (a letter, then letters, digits, blanks, `_` up to the colon), or lines. */
function isInfoText(body: string): boolean {
  if (body.indexOf('\n') >= 0) return true;
  const colon = body.indexOf(':');
  const c0 = body.charCodeAt(0) | 0x20;
  if (colon <= 0 || c0 < 97 || c0 > 122) return false;
  for (let i = 0; i < colon; i++) {
    const c = body.charCodeAt(i) | 0x20;
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 32 || c === 0x7f)) return false;
  }
  return true;
}

function guess(t: readonly string[], text: string): RtppReply {
  const end = mainEnd(t);
  if (end === 0) {
    if (t.length === 0) return { kind: 'list', values: NO_RESULTS, subResults: NO_RESULTS };
    throw garbage(text, 'not a reply');
  }
  const first = t[0]!;
  if (
    isDigits(first) &&
    end <= 3 &&
    (end === 1 ? t.length > 1 : looksLikeAddress(t[1]!)) &&
    (end < 3 || isDigits(t[2]!))
  ) {
    return portFrom(t, text);
  }
  if (end === 1 && t.length === 1 && isNumber(first)) return { kind: 'value', value: first };
  if (first.indexOf('=') > 0 || t.slice(0, end).every(isNumber)) return listFrom(t, text, true);
  throw garbage(text, 'not a reply');
}

function looksLikeAddress(s: string): boolean {
  return s.indexOf('.') > 0 || s.indexOf(':') >= 0;
}

/** A token that can travel in a reply: non-empty, no blank or control character. */
function isReplyWord(s: unknown): s is string {
  if (typeof s !== 'string' || s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 127) return false;
  }
  return true;
}

/** Text on one line (blanks allowed inside, not at the ends): a sub-result, an I value. */
function isLineText(s: unknown, allowEmpty: boolean): s is string {
  if (typeof s !== 'string') return false;
  if (s.length === 0) return allowEmpty;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return false;
  }
  const a = s.charCodeAt(0);
  const b = s.charCodeAt(s.length - 1);
  return a !== 32 && a !== 9 && b !== 32 && b !== 9;
}

function unsendable(what: string, value: unknown): RtppArgumentError {
  return new RtppArgumentError(`reply ${what} ${JSON.stringify(value)} cannot be sent`);
}

/** A sub-command result: words joined by single spaces, none of them `&&`. */
function isSubResult(r: unknown): r is string {
  if (typeof r !== 'string' || r.length === 0) return false;
  let start = 0;
  for (let i = 0; i <= r.length; i++) {
    const c = i < r.length ? r.charCodeAt(i) : 32;
    if (c === 32) {
      if (i === start) return false; // empty word: blank at an end or two in a row
      if (i - start === 2 && r.charCodeAt(start) === 38 && r.charCodeAt(start + 1) === 38) {
        return false;
      }
      start = i + 1;
    } else if (c < 32 || c === 127) return false;
  }
  return true;
}

function subText(results: readonly string[]): string {
  let out = '';
  for (const r of results) {
    if (!isSubResult(r)) throw unsendable('sub-command result', r);
    out += ` && ${r}`;
  }
  return out;
}

/**
 * The reply as text, always ending in `\n` (an I reply: one `key: value` line per entry).
 * Throws RtppArgumentError for a reply that would not read back as itself (a port outside
 * 0..65535, a blank inside a value, a line break anywhere, an empty I reply, …).
 */
export function serializeReply(reply: RtppReply): string {
  switch (reply.kind) {
    case 'port': {
      const { port, address, family } = reply;
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw unsendable('port', port);
      let out = String(port);
      if (address !== undefined) {
        if (!isReplyWord(address) || address === '&&') throw unsendable('address', address);
        out += ` ${address}`;
        if (reply.ipv6) out += ' 6';
        else if (family !== undefined) {
          // '6' is the IPv6 flag, not a family: it would read back as ipv6
          if (!isDigits(family) || family === '6') throw unsendable('address family', family);
          out += ` ${family}`;
        }
      }
      return `${out}${subText(reply.subResults)}\n`;
    }
    case 'error':
      if (!Number.isInteger(reply.code) || reply.code < 0 || reply.code > 999_999_999) {
        throw unsendable('code', reply.code);
      }
      return `E${reply.code}\n`;
    case 'value':
      if (!isReplyWord(reply.value)) throw unsendable('value', reply.value);
      return `${reply.value}\n`;
    case 'info': {
      if (reply.entries.length === 0) throw unsendable('info', 'with no line');
      let out = '';
      for (const [k, v] of reply.entries) {
        if (!isLineText(k, false) || k.indexOf(':') >= 0) throw unsendable('info key', k);
        if (!isLineText(v, true)) throw unsendable('info value', v);
        out += `${k}: ${v}\n`;
      }
      return out;
    }
    case 'list': {
      const { names, values } = reply;
      if (names !== undefined && names.length !== values.length) {
        throw unsendable('names', names);
      }
      let out = '';
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (i > 0) out += ' ';
        if (names === undefined) {
          if (!isReplyWord(v) || v.indexOf('=') >= 0 || v === '&&') throw unsendable('value', v);
          out += v;
        } else {
          const n = names[i];
          if (!isReplyWord(n) || n.indexOf('=') >= 0) throw unsendable('name', n);
          if (typeof v !== 'string' || (v.length > 0 && !isReplyWord(v))) {
            throw unsendable('value', v);
          }
          out += `${n}=${v}`;
        }
      }
      return `${out}${subText(reply.subResults)}\n`;
    }
    default:
      throw unsendable('kind', (reply as { kind?: unknown }).kind);
  }
}

/** `E<code>` */
export function errorReply(code: number): RtppErrorReply {
  return { kind: 'error', code };
}

/** A single value: `0`, `1`, `20040107`, … */
export function valueReply(value: string | number): RtppValueReply {
  return { kind: 'value', value: String(value) };
}

/** `<port>[ <addr>[ 6]]`; `ipv6` defaults to whether the address has a colon. */
export function portReply(
  port: number,
  address?: string,
  options: { ipv6?: boolean; family?: string; subResults?: readonly string[] } = {},
): RtppPortReply {
  const reply: { -readonly [K in keyof RtppPortReply]: RtppPortReply[K] } = {
    kind: 'port',
    port,
    ipv6: options.ipv6 ?? (address !== undefined && address.indexOf(':') >= 0),
    subResults: options.subResults ?? NO_RESULTS,
  };
  if (address !== undefined) reply.address = address;
  if (options.family !== undefined) reply.family = options.family;
  return reply;
}

/** An I reply from `key: value` pairs. */
export function infoReply(entries: Iterable<readonly [string, string | number]>): RtppInfoReply {
  const out: (readonly [string, string])[] = [];
  for (const [k, v] of entries) out.push([k, String(v)]);
  return { kind: 'info', entries: out };
}

/** A G/Q reply; with `names`, each value is sent as `name=value` (the `v` modifier). */
export function listReply(
  values: readonly (string | number)[],
  names?: readonly string[],
  subResults: readonly string[] = NO_RESULTS,
): RtppListReply {
  const v = values.map(String);
  return names === undefined
    ? { kind: 'list', values: v, subResults }
    : { kind: 'list', values: v, names, subResults };
}
