/**
 * UDP framing (docs/protocols/rtpproxy.md §1.1–§1.3): every datagram starts with a cookie, the
 * server echoes it before the reply body. Sans-I/O: Buffers in, frames out.
 *
 * Text is decoded as latin1, which maps every byte to one character and back, so call-ids and
 * tags pass through byte for byte whatever their encoding.
 */

/** rtpproxy's command buffer (`RTPP_CMD_BUFLEN`): a datagram larger than this is dropped. */
export const MAX_DATAGRAM = 8192;

/** The server side reading of one datagram. */
export type RtppDatagramFrame =
  /** A cookie and a command body (the body is never blank). */
  | { readonly kind: 'command'; readonly cookie: string; readonly body: string }
  /** A cookie with nothing after it (bare `V` is the cookie `V`): answer `<cookie> E5`. */
  | { readonly kind: 'no-command'; readonly cookie: string }
  /** Nothing but blanks: answer `E5` without a cookie. */
  | { readonly kind: 'empty' }
  /** Larger than the limit: drop and count, no reply. */
  | { readonly kind: 'oversize'; readonly size: number };

const latin1Slice = Buffer.prototype.latin1Slice as (
  this: Uint8Array,
  start: number,
  end: number,
) => string;

/**
 * The bytes as latin1 text, read straight from the Uint8Array: no Buffer view is made first
 * (making one costs more than the decoding for a datagram this size).
 */
export function latin1Text(data: Uint8Array): string {
  return latin1Slice.call(data, 0, data.length);
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** Splits a received datagram into cookie and command body. */
export function decodeCommandDatagram(data: Uint8Array, maxSize = MAX_DATAGRAM): RtppDatagramFrame {
  if (data.length > maxSize) return { kind: 'oversize', size: data.length };
  const text = latin1Text(data);
  const n = text.length;
  let i = 0;
  while (i < n && isBlank(text.charCodeAt(i))) i++;
  if (i === n) return { kind: 'empty' };
  const start = i;
  while (i < n && !isBlank(text.charCodeAt(i))) i++;
  const cookie = text.slice(start, i);
  while (i < n && isBlank(text.charCodeAt(i))) i++;
  let end = n;
  while (end > i && isBlank(text.charCodeAt(end - 1))) end--;
  if (i === end) return { kind: 'no-command', cookie };
  return { kind: 'command', cookie, body: text.slice(i, end) };
}

/** `<cookie> <body>` for a reply body that already ends in `\n` (or `E5\n` with no cookie). */
export function encodeReplyDatagram(cookie: string | undefined, body: string): Buffer {
  return Buffer.from(cookie === undefined ? body : `${cookie} ${body}`, 'latin1');
}

/** `<cookie> <command>` as a client sends it (no trailing newline, like Kamailio and OpenSIPS). */
export function encodeCommandDatagram(cookie: string, command: string): Buffer {
  return Buffer.from(`${cookie} ${command}`, 'latin1');
}

/** The client side reading of a reply datagram: the cookie and the body after one separator. */
export function decodeReplyDatagram(
  data: Uint8Array,
): { readonly cookie: string; readonly body: string } | undefined {
  const text = latin1Text(data);
  let i = 0;
  const n = text.length;
  while (i < n && !isBlank(text.charCodeAt(i))) i++;
  if (i === 0 || i === n) return undefined;
  return { cookie: text.slice(0, i), body: text.slice(i + 1) };
}
