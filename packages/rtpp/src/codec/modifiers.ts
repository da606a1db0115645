/**
 * U/L modifiers (docs/protocols/rtpproxy.md §2.2; rtpproxy src/commands/rpcpv1_ul.c
 * `rtpp_command_ul_opts_parse_inner`), parsed left to right like rtpproxy does:
 *
 * - `a` asymmetric, `s` symmetric (clears `a`), `e`/`i` bridging (a third one, or any when the
 *   server does not bridge: `E11`/`E12`), `6` IPv6, `w` weak, `n` new port; letters are
 *   case-insensitive. Value-taking modifiers swallow what fits them, so `l1.2.3.46` is the
 *   address 1.2.3.46, not an address and `6` (rtpproxy reads it the same way).
 * - `z<ms>`: a `strtol` number (optional sign), 1..999, else `E13`.
 * - `c<list>`: the digits and commas that follow, at least one character, only once, else `E14`.
 *   Empty list items (`c0,,8`) are accepted as rtpproxy does and skipped.
 * - `l<addr>`, `l[v6]`, `l{label}` and `r<addr>`, `r[v6]`: the address syntax of rtpproxy's
 *   `extractaddr` (digits and dots, or hex digits and colons inside brackets, non-empty) and
 *   `extractlabel` (non-empty, up to the first `}`), else `E15` / `E16`. Whether the address is
 *   usable (rtpproxy's `E31`/`E32`) is for the server to decide.
 * - anything else: kept in `unknown` (rtpproxy answers `E35`; with `rejectUnknown` so does the
 *   parser, at the same position rtpproxy would stop). When a later modifier is bad, the answer
 *   is `E35` all the same, since rtpproxy would have stopped at the unknown letter first.
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

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** Dotted quad with each part 0..255. */
export function isIpv4(text: string): boolean {
  const n = text.length;
  if (n < 7 || n > 15) return false;
  let parts = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || value > 255) return false;
      parts++;
      digits = 0;
      value = 0;
    } else if (isDigit(c)) {
      if (++digits > 3) return false;
      value = value * 10 + (c - 48);
    } else return false;
  }
  return parts === 4;
}

/**
 * A well-formed IPv6 literal (RFC 4291 text form: up to eight groups of 1–4 hex digits, at most
 * one `::`, optionally ending in a dotted quad), 2..45 characters.
 */
export function isIpv6(text: string): boolean {
  const n = text.length;
  if (n < 2 || n > 45) return false;
  const dbl = text.indexOf('::');
  if (dbl >= 0 && text.indexOf('::', dbl + 1) >= 0) return false;
  let groups = 0;
  let i = 0;
  if (dbl === 0) i = 2;
  while (i < n) {
    let j = i;
    while (j < n && isHex(text.charCodeAt(j))) j++;
    if (j < n && text.charCodeAt(j) === 46) {
      // trailing IPv4
      if (!isIpv4(text.slice(i))) return false;
      groups += 2;
      i = n;
      break;
    }
    if (j === i || j - i > 4) return false;
    groups++;
    if (j === n) {
      i = n;
      break;
    }
    if (text.charCodeAt(j) !== 58) return false;
    if (j === dbl) {
      i = j + 2;
      if (i === n) break;
    } else {
      i = j + 1;
      if (i === n) return false;
    }
  }
  return dbl >= 0 ? groups <= 7 : groups === 8;
}

export type ModifierResult =
  | { readonly ok: true; readonly mods: UpdateModifiers }
  | { readonly ok: false; readonly code: number; readonly reason: string };

export interface ModifierOptions {
  /** Answer `E35` for a letter rtpproxy does not know, instead of keeping it in `unknown`. */
  readonly rejectUnknown?: boolean;
  /**
   * Whether the server bridges two interfaces (rtpproxy started with two `-l` addresses). When
   * false, any `e`/`i` answers `E11`/`E12` as rtpproxy does; by default they are accepted and
   * only a third one is an error.
   */
  readonly bridging?: boolean;
}

const bad = (code: number, reason: string): ModifierResult => ({ ok: false, code, reason });

/**
 * An error at this position. rtpproxy reads left to right and stops at the first letter it does
 * not know (E35), so when an unknown letter came before, that is the answer.
 */
function stop(unknownSoFar: string, code: number, reason: string): ModifierResult {
  return unknownSoFar === ''
    ? bad(code, reason)
    : bad(RtppErrorCode.INVLARG_5, `unknown modifier "${unknownSoFar[0]}" (then: ${reason})`);
}

/** rtpproxy `extractaddr`: returns the end index, or -1. */
function addressEnd(s: string, i: number): number {
  const n = s.length;
  if (i < n && s.charCodeAt(i) === 91) {
    let j = i + 1;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (!(isHex(c) || c === 58)) break;
      j++;
    }
    if (j === i + 1 || j >= n || s.charCodeAt(j) !== 93) return -1;
    return j + 1;
  }
  let j = i;
  while (j < n) {
    const c = s.charCodeAt(j);
    if (!(isDigit(c) || c === 46)) break;
    j++;
  }
  return j === i ? -1 : j;
}

function addressAt(s: string, i: number, end: number): string {
  return s.charCodeAt(i) === 91 ? s.slice(i + 1, end - 1) : s.slice(i, end);
}

export function parseUpdateModifiers(s: string, options?: ModifierOptions): ModifierResult {
  const n = s.length;
  if (n === 0) return { ok: true, mods: EMPTY_MODIFIERS };
  const rejectUnknown = options?.rejectUnknown === true;
  const maxBridge = options?.bridging === false ? 0 : 2;
  let asymmetric = false;
  let symmetric = false;
  let ipv6 = false;
  let weak = false;
  let newPort = false;
  let bridge: ('e' | 'i')[] | undefined;
  let ptime: number | undefined;
  let codecs: number[] | undefined;
  let localAddress: string | undefined;
  let localLabel: string | undefined;
  let remoteAddress: string | undefined;
  let unknown = '';
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i++);
    switch (c | 0x20) {
      case 97: // a
        asymmetric = true;
        break;
      case 115: // s
        symmetric = true;
        asymmetric = false;
        break;
      case 101: // e
      case 105: {
        // i
        const which = (c | 0x20) === 101 ? 'e' : 'i';
        if (bridge === undefined) bridge = [];
        if (bridge.length >= maxBridge) {
          const why = maxBridge === 0 ? 'e/i without bridging' : 'more than two e/i modifiers';
          return which === 'e'
            ? stop(unknown, RtppErrorCode.PARSE_11, why)
            : stop(unknown, RtppErrorCode.PARSE_12, why);
        }
        bridge.push(which);
        break;
      }
      case 119: // w
        weak = true;
        break;
      case 110: // n
        newPort = true;
        break;
      case 122: {
        // z: strtol
        let j = i;
        let neg = false;
        if (j < n) {
          const sign = s.charCodeAt(j);
          if (sign === 43 || sign === 45) {
            neg = sign === 45;
            j++;
          }
        }
        const d0 = j;
        let v = 0;
        while (j < n && isDigit(s.charCodeAt(j))) {
          if (v < 1e6) v = v * 10 + (s.charCodeAt(j) - 48);
          j++;
        }
        if (j === d0 || neg || v <= 0 || v >= 1000) {
          return stop(unknown, RtppErrorCode.PARSE_13, 'bad z ptime (1..999)');
        }
        ptime = v;
        i = j;
        break;
      }
      case 99: {
        // c
        if (codecs !== undefined) return stop(unknown, RtppErrorCode.PARSE_14, 'second c list');
        const list: number[] = [];
        let j = i;
        let v = 0;
        let digits = 0;
        for (; j < n; j++) {
          const d = s.charCodeAt(j);
          if (isDigit(d)) {
            v = v * 10 + (d - 48);
            digits++;
          } else if (d === 44) {
            if (digits > 0) list.push(v);
            v = 0;
            digits = 0;
          } else break;
        }
        if (digits > 0) list.push(v);
        if (j === i) return stop(unknown, RtppErrorCode.PARSE_14, 'empty c codec list');
        codecs = list;
        i = j;
        break;
      }
      case 108: {
        // l
        if (i < n && s.charCodeAt(i) === 123) {
          const close = s.indexOf('}', i + 1);
          if (close < 0 || close === i + 1)
            return stop(unknown, RtppErrorCode.PARSE_15, 'bad l{label}');
          localLabel = s.slice(i + 1, close);
          localAddress = undefined;
          i = close + 1;
          break;
        }
        const end = addressEnd(s, i);
        if (end < 0) return stop(unknown, RtppErrorCode.PARSE_15, 'bad l address');
        localAddress = addressAt(s, i, end);
        localLabel = undefined;
        i = end;
        break;
      }
      case 114: {
        // r
        const end = addressEnd(s, i);
        if (end < 0) return stop(unknown, RtppErrorCode.PARSE_16, 'bad r address');
        remoteAddress = addressAt(s, i, end);
        i = end;
        break;
      }
      default:
        if (c === 54) {
          ipv6 = true;
        } else if (rejectUnknown) {
          return bad(RtppErrorCode.INVLARG_5, `unknown modifier "${s[i - 1]}"`);
        } else {
          unknown += s[i - 1];
        }
    }
  }
  const m: Mutable<UpdateModifiers> = {
    asymmetric,
    symmetric,
    ipv6,
    weak,
    newPort,
    bridge: bridge ?? EMPTY_MODIFIERS.bridge,
    unknown,
  };
  if (ptime !== undefined) m.ptime = ptime;
  if (codecs !== undefined) m.codecs = codecs;
  if (localAddress !== undefined) m.localAddress = localAddress;
  if (localLabel !== undefined) m.localLabel = localLabel;
  if (remoteAddress !== undefined) m.remoteAddress = remoteAddress;
  return { ok: true, mods: m };
}

/** An address as `l`/`r` take it: digits and dots bare, anything else in brackets. */
function addressText(a: string): string {
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (!(isDigit(c) || c === 46)) return `[${a}]`;
  }
  return a;
}

/**
 * The canonical modifier string of a U/L command. Unknown letters come first, so that none of
 * them can be read as part of a value (`Z20` followed by an unknown `7` would say `Z207`); `S`
 * comes before `A` because `s` clears `a`.
 */
export function serializeUpdateModifiers(m: UpdateModifiers): string {
  let out = m.unknown;
  if (m.symmetric) out += 'S';
  if (m.asymmetric) out += 'A';
  for (const b of m.bridge) out += b === 'e' ? 'E' : 'I';
  if (m.ipv6) out += '6';
  if (m.weak) out += 'W';
  if (m.newPort) out += 'N';
  if (m.ptime !== undefined) out += `Z${m.ptime}`;
  if (m.codecs !== undefined) out += m.codecs.length === 0 ? 'c,' : `c${m.codecs.join(',')}`;
  if (m.localLabel !== undefined) out += `l{${m.localLabel}}`;
  else if (m.localAddress !== undefined) out += `l${addressText(m.localAddress)}`;
  if (m.remoteAddress !== undefined) out += `r${addressText(m.remoteAddress)}`;
  return out;
}

/** Field-by-field equality of two modifier sets. */
export function sameModifiers(a: UpdateModifiers, b: UpdateModifiers): boolean {
  if (a === b) return true;
  if (
    a.asymmetric !== b.asymmetric ||
    a.symmetric !== b.symmetric ||
    a.ipv6 !== b.ipv6 ||
    a.weak !== b.weak ||
    a.newPort !== b.newPort ||
    a.ptime !== b.ptime ||
    a.localAddress !== b.localAddress ||
    a.localLabel !== b.localLabel ||
    a.remoteAddress !== b.remoteAddress ||
    a.unknown !== b.unknown ||
    a.bridge.length !== b.bridge.length
  ) {
    return false;
  }
  for (let i = 0; i < a.bridge.length; i++) if (a.bridge[i] !== b.bridge[i]) return false;
  const ac = a.codecs;
  const bc = b.codecs;
  if (ac === bc) return true;
  if (ac === undefined || bc === undefined || ac.length !== bc.length) return false;
  for (let i = 0; i < ac.length; i++) if (ac[i] !== bc[i]) return false;
  return true;
}
