/**
 * Reply codec (digest §1.3, §2.3, §2.7, §2.9): body text (cookie already removed) ⇄ RtppReply.
 * What a reply means depends on the command it answers (`0` is a lookup miss for L, success for
 * D), so `parseReply` takes the command kind when it is known.
 */
import { RtppProtocolError } from '../errors.js';
import type {
  RtppCommandKind,
  RtppInfoReply,
  RtppListReply,
  RtppPortReply,
  RtppReply,
} from '../types.js';

/** Longest reply accepted (rtpproxy's own buffer is 1 KiB; I replies stay well below this). */
export const MAX_REPLY_LENGTH = 4096;

function stripEol(text: string): string {
  let end = text.length;
  while (end > 0) {
    const c = text.charCodeAt(end - 1);
    if (c === 10 || c === 13) end--;
    else break;
  }
  return end === text.length ? text : text.slice(0, end);
}

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function printable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 10 && c !== 13 && c !== 9) || c === 127) return false;
  }
  return true;
}

function garbage(text: string, why: string): RtppProtocolError {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return new RtppProtocolError(`${why}: ${JSON.stringify(shown)}`);
}

/** Splits `main && r1 && r2`. */
function splitSub(body: string): { main: string; subResults: string[] } {
  if (body.indexOf('&&') < 0) return { main: body, subResults: [] };
  const parts = body.split('&&').map((p) => p.trim());
  return { main: parts[0]!, subResults: parts.slice(1) };
}

function parsePort(body: string, text: string): RtppPortReply {
  const { main, subResults } = splitSub(body);
  const t = main.split(' ').filter((x) => x !== '');
  if (t.length < 1 || t.length > 3 || !isDigits(t[0]!)) throw garbage(text, 'not a port reply');
  const port = Number(t[0]);
  if (port > 65535) throw garbage(text, 'port out of range');
  const reply: { -readonly [K in keyof RtppPortReply]: RtppPortReply[K] } = {
    kind: 'port',
    port,
    ipv6: false,
    subResults,
  };
  if (t[1] !== undefined) reply.address = t[1];
  if (t[2] !== undefined) {
    if (t[2] === '6') reply.ipv6 = true;
    else reply.family = t[2];
  }
  return reply;
}

function parseInfo(body: string, text: string): RtppInfoReply {
  const entries: [string, string][] = [];
  for (const line of body.split('\n')) {
    const l = line.replace(/\r$/, '');
    if (l === '') continue;
    const colon = l.indexOf(':');
    if (colon <= 0) throw garbage(text, 'not a key: value line');
    entries.push([l.slice(0, colon).trim(), l.slice(colon + 1).trim()]);
  }
  if (entries.length === 0) throw garbage(text, 'empty info reply');
  return { kind: 'info', entries };
}

function parseList(body: string): RtppListReply {
  const { main, subResults } = splitSub(body);
  const t = main.split(' ').filter((x) => x !== '');
  if (t.length > 0 && t.every((x) => x.indexOf('=') > 0)) {
    const names: string[] = [];
    const values: string[] = [];
    for (const x of t) {
      const eq = x.indexOf('=');
      names.push(x.slice(0, eq));
      values.push(x.slice(eq + 1));
    }
    return { kind: 'list', values, names, subResults };
  }
  return { kind: 'list', values: t, subResults };
}

/**
 * Parses a reply body (with or without its trailing newline). Throws RtppProtocolError for text
 * that is not a reply of the expected shape.
 */
export function parseReply(text: string, kind?: RtppCommandKind): RtppReply {
  if (text.length > MAX_REPLY_LENGTH) throw garbage(text, 'reply too long');
  if (!printable(text)) throw garbage(text, 'control characters in reply');
  const body = stripEol(text);
  if (body.length > 1 && body[0] === 'E' && isDigits(body.slice(1))) {
    return { kind: 'error', code: Number(body.slice(1)) };
  }
  switch (kind) {
    case 'U':
    case 'L':
      return parsePort(body, text);
    case 'C':
      return body.indexOf(' ') > 0 ? parsePort(body, text) : single(body, text);
    case 'I':
      return parseInfo(body, text);
    case 'G':
    case 'Q':
      return parseList(body);
    case undefined:
      return guess(body, text);
    default:
      return single(body, text);
  }
}

function single(body: string, text: string): RtppReply {
  const v = body.trim();
  if (v === '' || v.indexOf(' ') >= 0 || v.indexOf('\n') >= 0) {
    throw garbage(text, 'expected a single value');
  }
  return { kind: 'value', value: v };
}

function guess(body: string, text: string): RtppReply {
  if (body.indexOf('\n') >= 0 || /^[a-z ]+: /.test(body)) return parseInfo(body, text);
  const t = body.split(' ').filter((x) => x !== '');
  if (t.length === 1 && body.indexOf('=') < 0) return { kind: 'value', value: t[0]! };
  if (
    t.length >= 2 &&
    t.length <= 3 &&
    isDigits(t[0]!) &&
    (t[1]!.indexOf('.') > 0 || t[1]!.indexOf(':') >= 0)
  ) {
    return parsePort(body, text);
  }
  return parseList(body);
}

/** The reply as text, always ending in `\n`. */
export function serializeReply(reply: RtppReply): string {
  switch (reply.kind) {
    case 'port': {
      let out = String(reply.port);
      if (reply.address !== undefined) {
        out += ` ${reply.address}`;
        if (reply.ipv6) out += ' 6';
        else if (reply.family !== undefined) out += ` ${reply.family}`;
      }
      for (const r of reply.subResults) out += ` && ${r}`;
      return `${out}\n`;
    }
    case 'error':
      return `E${reply.code}\n`;
    case 'value':
      return `${reply.value}\n`;
    case 'info': {
      let out = '';
      for (const [k, v] of reply.entries) out += `${k}: ${v}\n`;
      return out;
    }
    case 'list': {
      const names = reply.names;
      let out =
        names === undefined
          ? reply.values.join(' ')
          : reply.values.map((v, i) => `${names[i]}=${v}`).join(' ');
      for (const r of reply.subResults) out += ` && ${r}`;
      return `${out}\n`;
    }
  }
}

export function errorReply(code: number): RtppReply {
  return { kind: 'error', code };
}

export function valueReply(value: string): RtppReply {
  return { kind: 'value', value };
}

export function portReply(
  port: number,
  address?: string,
  options: { ipv6?: boolean; subResults?: readonly string[] } = {},
): RtppPortReply {
  return {
    kind: 'port',
    port,
    ...(address === undefined ? {} : { address }),
    ipv6: options.ipv6 ?? (address !== undefined && address.indexOf(':') >= 0),
    subResults: options.subResults ?? [],
  };
}
