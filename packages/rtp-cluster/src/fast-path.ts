/**
 * The balancer's raw-text fast path: reading the common session commands (U, L, D) and their
 * replies without building command or reply objects.
 *
 * `scanPlainSession` accepts a command only when it is *plain*: the full parser would accept it
 * with the same kind, call-id and tags, it has no notify arguments and no sub-commands, and its
 * blanks are single spaces. Anything else (a malformed command, modifiers the parser does not
 * know, notify arguments, `&&`, tabs) is declined and goes the parsed path, which answers it
 * exactly as before. The cost of a plain command is one pass over its characters and the
 * call-id string.
 *
 * `classifyReply` reads a member's reply body the same way: canonical port, value and error
 * replies are recognised as they are; anything else is for the full reply parser.
 */
import {
  MAX_COMMAND_LENGTH,
  type ModifierOptions,
  parseUpdateModifiers,
  remoteAddressStatus,
} from '@sipedge/rtpp';

export type PlainKind = 'U' | 'L' | 'D';

/** What the scan found (one object per cluster, overwritten by every scan). */
export interface PlainSession {
  kind: PlainKind;
  callId: string;
  /** U/L: whether a to_tag follows the from_tag; D: whether a to_tag is given. */
  hasToTag: boolean;
}

/** The parser's defaults as RtppServer calls it (unknown modifiers kept, bridging on). */
const MODIFIER_OPTIONS: ModifierOptions = { rejectUnknown: false, bridging: true };

/** Token boundaries of the last scan (at most 6 tokens in a plain command). */
const starts = new Int32Array(7);
const ends = new Int32Array(7);

/** True (and `out` filled) when `text` is a plain U, L or D; see the module comment. */
export function scanPlainSession(text: string, out: PlainSession): boolean {
  const n = text.length;
  if (n === 0 || n > MAX_COMMAND_LENGTH) return false;
  const letter = text.charCodeAt(0) | 0x20;
  if (letter !== 117 && letter !== 108 && letter !== 100) return false;
  let count = 0;
  let start = 0;
  for (let i = 1; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 32;
    if (c === 32) {
      // an empty token is a double blank (or one at an end): not plain
      if (i === start || count === 6) return false;
      starts[count] = start;
      ends[count] = i;
      count++;
      start = i + 1;
    } else if (c < 32 || c === 38 || c > 126) {
      // control characters, `&` (sub-commands), 8-bit text: the parsed path decides
      return false;
    }
  }
  const modStart = 1;
  const modEnd = ends[0]!;
  if (letter === 100) {
    if (count !== 3 && count !== 4) return false;
    for (let i = modStart; i < modEnd; i++) if ((text.charCodeAt(i) | 0x20) !== 119) return false;
    out.kind = 'D';
    out.hasToTag = count === 4;
  } else {
    // U and L: from_tag, optionally to_tag; 7 or 8 tokens carry notify arguments
    if (count !== 5 && count !== 6) return false;
    let ipv6 = false;
    if (modEnd > modStart) {
      const mods = parseUpdateModifiers(text.slice(modStart, modEnd), MODIFIER_OPTIONS);
      if (!mods.ok || mods.mods.unknown !== '') return false;
      ipv6 = mods.mods.ipv6;
    }
    const ip = text.slice(starts[2]!, ends[2]!);
    const port = text.slice(starts[3]!, ends[3]!);
    if (remoteAddressStatus(ip, port, ipv6) === 'invalid') return false;
    out.kind = letter === 117 ? 'U' : 'L';
    out.hasToTag = count === 6;
  }
  out.callId = text.slice(starts[1]!, ends[1]!);
  return true;
}

/**
 * The from-tag of the U or L that `scanPlainSession` last accepted (call it right after, with
 * the same text).
 */
export function scannedFromTag(text: string): string {
  return text.slice(starts[4]!, ends[4]!);
}

/** A reply body the fast path does not recognise: parse it. */
export const REPLY_OTHER = -2;
/** `E<n>` (canonical digits). */
export const REPLY_ERROR = -1;
/** A U/L port reply with port 0 (nothing created or found). */
export const REPLY_NEGATIVE = 0;
/** A port reply with a port, or D's `0`. */
export const REPLY_POSITIVE = 1;

function digitsEnd(s: string, from: number): number {
  let i = from;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  return i;
}

/**
 * Classifies a reply body (newline removed) to a plain command of `kind`. Recognised exactly
 * when the reply parser and serialiser would give back the same text: `E<n>`; for U/L
 * `<port>[ <ip>[ 6]]` with a port 0..65535 without leading zeros and an IP literal's characters;
 * for D `0`.
 */
export function classifyReply(body: string, kind: PlainKind): number {
  const n = body.length;
  if (n === 0) return REPLY_OTHER;
  const c0 = body.charCodeAt(0);
  if (c0 === 69) {
    const end = digitsEnd(body, 1);
    if (end !== n || n === 1 || n > 10 || (n > 2 && body.charCodeAt(1) === 48)) return REPLY_OTHER;
    return REPLY_ERROR;
  }
  if (kind === 'D') return n === 1 && c0 === 48 ? REPLY_POSITIVE : REPLY_OTHER;
  const portEnd = digitsEnd(body, 0);
  if (portEnd === 0 || portEnd > 5 || (portEnd > 1 && c0 === 48)) return REPLY_OTHER;
  let port = 0;
  for (let i = 0; i < portEnd; i++) port = port * 10 + body.charCodeAt(i) - 48;
  if (port > 65535) return REPLY_OTHER;
  if (portEnd < n) {
    if (body.charCodeAt(portEnd) !== 32) return REPLY_OTHER;
    let i = portEnd + 1;
    let separators = 0;
    for (; i < n; i++) {
      const c = body.charCodeAt(i);
      if (c === 46 || c === 58) separators++;
      // digits, '.', ':' and hex letters: an IP literal
      else if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102))) break;
    }
    if (separators === 0) return REPLY_OTHER;
    if (i < n && !(i + 2 === n && body.charCodeAt(i) === 32 && body.charCodeAt(i + 1) === 54)) {
      return REPLY_OTHER;
    }
  }
  return port === 0 ? REPLY_NEGATIVE : REPLY_POSITIVE;
}

/** The code of an `E<n>` body that classified as REPLY_ERROR. */
export function errorCodeOf(body: string): number {
  let code = 0;
  for (let i = 1; i < body.length; i++) code = code * 10 + body.charCodeAt(i) - 48;
  return code;
}
