/**
 * U/L modifiers (digest §2.2), parsed left to right; value-taking modifiers swallow the
 * characters valid for them: `z` digits, `c` digits and commas, `l`/`r` an IPv4 address, a
 * `[v6]` literal, or (`l` only) a `{label}`. Letters are case-insensitive except `6`.
 */
import { RtppErrorCode, type UpdateModifiers } from '../types.js';

export const EMPTY_MODIFIERS: UpdateModifiers = Object.freeze({
  asymmetric: false,
  symmetric: false,
  ipv6: false,
  weak: false,
  newPort: false,
  bridge: Object.freeze([]) as readonly ('e' | 'i')[],
  unknown: '',
});

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Dotted quad with each part 0..255. */
export function isIpv4(text: string): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (const p of parts) {
    if (p.length === 0 || p.length > 3) return false;
    for (let i = 0; i < p.length; i++) if (!isDigit(p.charCodeAt(i))) return false;
    if (Number(p) > 255) return false;
  }
  return true;
}

/** A plausible IPv6 literal: hex digits, colons, dots (embedded IPv4), 2..45 characters. */
export function isIpv6(text: string): boolean {
  if (text.length < 2 || text.length > 45 || text.indexOf(':') < 0) return false;
  let colons = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) colons++;
    else if (!(isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) || c === 46))
      return false;
  }
  return colons >= 2 && colons <= 7 && !/:::/.test(text) && text.split('::').length <= 2;
}

export type ModifierResult =
  | { readonly ok: true; readonly mods: UpdateModifiers }
  | { readonly ok: false; readonly code: number; readonly reason: string };

/** Reads an address after `l`/`r` starting at `i`; returns [address, label, next index]. */
function readAddress(
  s: string,
  i: number,
  allowLabel: boolean,
): { address?: string; label?: string; next: number } | undefined {
  const c = s[i];
  if (c === '[') {
    const close = s.indexOf(']', i);
    if (close < 0) return undefined;
    const v6 = s.slice(i + 1, close);
    return isIpv6(v6) ? { address: v6, next: close + 1 } : undefined;
  }
  if (c === '{' && allowLabel) {
    const close = s.indexOf('}', i);
    if (close < 0 || close === i + 1) return undefined;
    return { label: s.slice(i + 1, close), next: close + 1 };
  }
  let j = i;
  while (j < s.length && (isDigit(s.charCodeAt(j)) || s.charCodeAt(j) === 46)) j++;
  const v4 = s.slice(i, j);
  return isIpv4(v4) ? { address: v4, next: j } : undefined;
}

export function parseUpdateModifiers(s: string): ModifierResult {
  if (s.length === 0) return { ok: true, mods: EMPTY_MODIFIERS };
  const m: Mutable<UpdateModifiers> = { ...EMPTY_MODIFIERS, bridge: [] };
  const bridge: ('e' | 'i')[] = [];
  let unknown = '';
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    const lower = ch === '6' ? '6' : ch.toLowerCase();
    i++;
    switch (lower) {
      case 'a':
        m.asymmetric = true;
        break;
      case 's':
        m.symmetric = true;
        m.asymmetric = false;
        break;
      case 'e':
      case 'i':
        if (bridge.length >= 2) {
          return {
            ok: false,
            code: lower === 'e' ? RtppErrorCode.PARSE_11 : RtppErrorCode.PARSE_12,
            reason: 'more than two e/i modifiers',
          };
        }
        bridge.push(lower);
        break;
      case '6':
        m.ipv6 = true;
        break;
      case 'w':
        m.weak = true;
        break;
      case 'n':
        m.newPort = true;
        break;
      case 'z': {
        let j = i;
        while (j < s.length && isDigit(s.charCodeAt(j))) j++;
        const ptime = Number(s.slice(i, j));
        if (j === i || ptime < 1 || ptime > 999) {
          return { ok: false, code: RtppErrorCode.PARSE_13, reason: 'bad z ptime' };
        }
        m.ptime = ptime;
        i = j;
        break;
      }
      case 'c': {
        let j = i;
        while (j < s.length && (isDigit(s.charCodeAt(j)) || s.charCodeAt(j) === 44)) j++;
        const list = s.slice(i, j);
        const parts = list.split(',');
        if (list.length === 0 || parts.some((p) => p.length === 0 || p.length > 3)) {
          return { ok: false, code: RtppErrorCode.PARSE_14, reason: 'bad c codec list' };
        }
        m.codecs = parts.map(Number);
        i = j;
        break;
      }
      case 'l':
      case 'r': {
        const addr = readAddress(s, i, lower === 'l');
        if (addr === undefined) {
          return {
            ok: false,
            code: lower === 'l' ? RtppErrorCode.PARSE_15 : RtppErrorCode.PARSE_16,
            reason: `bad ${lower} address`,
          };
        }
        if (lower === 'l') {
          if (addr.label !== undefined) m.localLabel = addr.label;
          else m.localAddress = addr.address!;
        } else {
          m.remoteAddress = addr.address!;
        }
        i = addr.next;
        break;
      }
      default:
        unknown += ch;
    }
  }
  m.bridge = bridge;
  m.unknown = unknown;
  return { ok: true, mods: m };
}

function addressText(a: string): string {
  return a.indexOf(':') >= 0 ? `[${a}]` : a;
}

/** The canonical modifier string of a U/L command. */
export function serializeUpdateModifiers(m: UpdateModifiers): string {
  let out = '';
  if (m.asymmetric) out += 'A';
  if (m.symmetric) out += 'S';
  for (const b of m.bridge) out += b.toUpperCase();
  if (m.ipv6) out += '6';
  if (m.weak) out += 'W';
  if (m.newPort) out += 'N';
  if (m.ptime !== undefined) out += `Z${m.ptime}`;
  if (m.codecs !== undefined) out += `c${m.codecs.join(',')}`;
  if (m.localLabel !== undefined) out += `l{${m.localLabel}}`;
  else if (m.localAddress !== undefined) out += `l${addressText(m.localAddress)}`;
  if (m.remoteAddress !== undefined) out += `r${addressText(m.remoteAddress)}`;
  out += m.unknown;
  return out;
}

/** Field-by-field equality of two modifier sets. */
export function sameModifiers(a: UpdateModifiers, b: UpdateModifiers): boolean {
  return (
    a.asymmetric === b.asymmetric &&
    a.symmetric === b.symmetric &&
    a.ipv6 === b.ipv6 &&
    a.weak === b.weak &&
    a.newPort === b.newPort &&
    a.ptime === b.ptime &&
    a.localAddress === b.localAddress &&
    a.localLabel === b.localLabel &&
    a.remoteAddress === b.remoteAddress &&
    a.unknown === b.unknown &&
    a.bridge.length === b.bridge.length &&
    a.bridge.every((x, i) => x === b.bridge[i]) &&
    (a.codecs === b.codecs ||
      (a.codecs !== undefined &&
        b.codecs !== undefined &&
        a.codecs.length === b.codecs.length &&
        a.codecs.every((x, i) => x === b.codecs![i])))
  );
}
