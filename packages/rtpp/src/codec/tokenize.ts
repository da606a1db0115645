/**
 * The rtpproxy tokenizer (docs/protocols/rtpproxy.md §1.2; rtpproxy src/rtpp_command.c
 * `rtpp_command_split`): separators are space, TAB, CR and LF, runs collapse, a NUL byte inside a
 * token is a syntax error. Scans character codes; no regular expressions.
 */

/**
 * Most tokens rtpproxy accepts in a command or in one `&&` sub-command. Its argument vector has
 * 24 slots (`RTPC_MAX_ARGC`) and the splitter rejects the command as soon as the 24th is filled
 * (`if (++ap >= &cap->v[RTPC_MAX_ARGC]) goto synerr`), so 24 tokens already answer `E5`.
 */
export const MAX_TOKENS = 23;

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** Splits on blanks; returns undefined when the text holds a NUL. */
export function tokenize(text: string): string[] | undefined {
  const tokens: string[] = [];
  const n = text.length;
  let start = -1;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      if (start >= 0) {
        tokens.push(text.slice(start, i));
        start = -1;
      }
    } else if (c === 0) {
      return undefined;
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) tokens.push(text.slice(start));
  return tokens;
}

/** Trims the separators rtpproxy ignores from both ends. */
export function trimBlanks(text: string): string {
  let a = 0;
  let b = text.length;
  while (a < b && isBlank(text.charCodeAt(a))) a++;
  while (b > a && isBlank(text.charCodeAt(b - 1))) b--;
  return a === 0 && b === text.length ? text : text.slice(a, b);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * URL-decoding as rtpproxy applies it to notify tags (`url_unquote`): `%hh` → that byte, `+` →
 * space; a `%` not followed by two hex digits makes the whole tag invalid (undefined → `E10`).
 * Decoded bytes come back as one character each (a Latin-1 "binary" string), which is exactly
 * what rtpproxy will write back to the notify socket.
 */
export function urlUnquote(text: string): string | undefined {
  let i = 0;
  const n = text.length;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 37 || c === 43) break;
  }
  if (i === n) return text;
  let out = text.slice(0, i);
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 43) out += ' ';
    else if (c === 37) {
      if (i + 2 >= n) return undefined;
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return undefined;
      out += String.fromCharCode(hi * 16 + lo);
      i += 2;
    } else out += text[i];
  }
  return out;
}

const HEX = '0123456789ABCDEF';

function pct(b: number): string {
  return `%${HEX[b >> 4]}${HEX[b & 15]}`;
}

/**
 * The inverse of `urlUnquote` for a notify tag: every character that could not travel inside
 * one token, or that the decoder would change, is escaped — blanks and controls, `%`, `+`, `&`
 * (a tag of `&&` would start a sub-command), DEL and everything beyond ASCII. Characters up to
 * U+00FF are taken as the byte they stand for; anything above is sent as its UTF-8 bytes.
 */
export function urlQuote(text: string): string {
  const n = text.length;
  let i = 0;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c <= 32 || c === 37 || c === 43 || c === 38 || c >= 127) break;
  }
  if (i === n) return text;
  let out = text.slice(0, i);
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c <= 32 || c === 37 || c === 43 || c === 38 || c === 127 || (c > 127 && c <= 255)) {
      out += pct(c);
    } else if (c > 255) {
      const cp = text.codePointAt(i) ?? c;
      if (cp > 0xffff) i++;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out += pct(b);
    } else out += text[i];
  }
  return out;
}
