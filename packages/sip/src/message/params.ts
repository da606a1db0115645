import { type ParseReason, SipParseError } from '../errors.js';

/** One `;name=value` parameter. `name` is lower-cased; `value` is null for a bare flag. */
export interface Param {
  readonly name: string;
  readonly value: string | null;
}

const TOKEN = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~") {
  TOKEN[c.charCodeAt(0)] = 1;
}

/** RFC 3261 §25.1 token character. */
export function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN[code] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

export function isWs(code: number): boolean {
  return code === 32 || code === 9 || code === 13 || code === 10;
}

export function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

/** Reads a quoted-string starting at the opening quote; returns the index after the closing one. */
export function scanQuoted(s: string, i: number, reason: ParseReason): number {
  i++;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 92 /* \ */) {
      i += 2;
      continue;
    }
    if (c === 34) return i + 1;
    i++;
  }
  throw new SipParseError(reason, 'unterminated quoted string');
}

/**
 * Parses `*( SWS ";" SWS name [ SWS "=" SWS value ] )` starting at `i` (which must be at a `;`
 * or the end). Values are tokens, quoted strings (kept with quotes) or bracketed IPv6 references.
 * Stops at the end of the string or, when `stopAtComma`, at a top-level comma.
 */
export function parseParams(
  s: string,
  i: number,
  reason: ParseReason,
): { params: Param[]; end: number } {
  const params: Param[] = [];
  i = skipWs(s, i);
  while (i < s.length) {
    if (s.charCodeAt(i) !== 59 /* ; */) {
      throw new SipParseError(reason, `unexpected '${s[i]}' in parameters`);
    }
    i = skipWs(s, i + 1);
    const nameStart = i;
    while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
    if (i === nameStart) throw new SipParseError(reason, 'empty parameter name');
    const name = s.slice(nameStart, i).toLowerCase();
    i = skipWs(s, i);
    let value: string | null = null;
    if (i < s.length && s.charCodeAt(i) === 61 /* = */) {
      i = skipWs(s, i + 1);
      const valueStart = i;
      const c = s.charCodeAt(i);
      if (c === 34) {
        i = scanQuoted(s, i, reason);
      } else if (c === 91 /* [ */) {
        const close = s.indexOf(']', i);
        if (close < 0) throw new SipParseError(reason, 'unterminated IPv6 reference in parameter');
        i = close + 1;
      } else {
        while (i < s.length) {
          const d = s.charCodeAt(i);
          if (isTokenChar(d) || d === 58 /* : */ || d === 91 || d === 93) i++;
          else break;
        }
      }
      if (i === valueStart) throw new SipParseError(reason, `empty value for parameter ${name}`);
      value = s.slice(valueStart, i);
      i = skipWs(s, i);
    }
    params.push({ name, value });
  }
  return { params, end: i };
}

export function getParam(params: readonly Param[], name: string): string | null | undefined {
  for (const p of params) if (p.name === name) return p.value;
  return undefined;
}

/**
 * Splits a header value on commas that are outside quoted strings and angle brackets
 * (RFC 3261 §7.3.1). Elements are trimmed; an empty element is kept so callers can reject it.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34 /* " */) {
      i++;
      while (i < value.length) {
        const d = value.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
        i++;
      }
    } else if (c === 60 /* < */) angle = true;
    else if (c === 62 /* > */) angle = false;
    else if (c === 44 /* , */ && !angle) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out;
}
