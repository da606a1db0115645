/**
 * The rtpproxy tokenizer (digest §1.2): separators are space, TAB, CR and LF, runs collapse, a
 * NUL byte is a syntax error. Scans character codes; no regular expressions.
 */

export const MAX_TOKENS = 24;

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

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** URL-decoding as rtpproxy applies to notify tags: `%hh` and `+` → space. */
export function urlUnquote(text: string): string | undefined {
  if (text.indexOf('%') < 0 && text.indexOf('+') < 0) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '+') out += ' ';
    else if (ch === '%') {
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return undefined;
      out += String.fromCharCode(hi * 16 + lo);
      i += 2;
    } else out += ch;
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** The inverse of `urlUnquote` for what must not travel raw (blanks, `%`, `+`, controls). */
export function urlQuote(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 32 || c === 37 || c === 43 || c === 127 || c > 127) {
      if (c > 255) {
        for (const b of Buffer.from(text[i]!, 'utf8')) out += `%${b.toString(16).padStart(2, '0')}`;
      } else out += `%${c.toString(16).padStart(2, '0')}`;
    } else out += text[i];
  }
  return out;
}
