/** The SIP message parser: bytes in, a SipMessage that re-serialises byte for byte out. */
import { SipParseError } from '../errors.js';
import { type HeaderField, HeaderRow, headerKey } from './header-field.js';
import { EMPTY_BODY, SipMessage } from './message.js';

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

function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 10) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

type Latin1 = { latin1Slice(start: number, end: number): string };

/** Buffer#latin1Slice where present (skips toString's argument handling), else toString. */
function latin1(buf: Buffer, start: number, end: number): string {
  const fast = (buf as unknown as Partial<Latin1>).latin1Slice;
  return fast !== undefined ? fast.call(buf, start, end) : buf.toString('latin1', start, end);
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
  const body = bodyEnd > bodyStart ? buf.subarray(bodyStart, bodyEnd) : EMPTY_BODY;
  return new SipMessage({
    startLine,
    headers,
    body,
    source: start === 0 && bodyEnd === buf.length ? buf : buf.subarray(start, bodyEnd),
  });
}
