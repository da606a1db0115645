import { SipParseError } from '../errors.js';

/** What a stream framer produced from the bytes pushed so far. */
export type StreamFrame =
  | { readonly type: 'message'; readonly data: Buffer }
  /** A double-CRLF keep-alive ping (RFC 5626 §3.5.1); answer it with a single CRLF. */
  | { readonly type: 'ping' }
  /** A single CRLF: a pong to our ping, or an RFC 3261 §7.5 keep-alive. */
  | { readonly type: 'pong' };

export interface StreamFramerOptions {
  /** Largest start line + header block, CRLFCRLF included (default 16,384). */
  readonly maxHeaderBytes?: number;
  /** Largest body (default 65,535). */
  readonly maxBodyBytes?: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CL_RE = /\r\n(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*\r\n/i;
const CL_ANY_RE = /\r\n(?:content-length|l)[ \t]*:/i;

/**
 * Content-Length framing for SIP over TCP and TLS (RFC 3261 §18.3), with CRLF keep-alives
 * (RFC 5626 §3.5.1). Sans-I/O: push bytes, get frames. Throws SipParseError when a limit is
 * exceeded or a frame cannot be delimited; the connection must then be closed, since the stream
 * cannot be resynchronised.
 */
export class StreamFramer {
  readonly #maxHeader: number;
  readonly #maxBody: number;
  #buf: Buffer = Buffer.alloc(0);
  #failed = false;
  /** Where the search for the end of the header block resumes (bytes already scanned). */
  #scanned = 0;

  constructor(options: StreamFramerOptions = {}) {
    this.#maxHeader = options.maxHeaderBytes ?? 16_384;
    this.#maxBody = options.maxBodyBytes ?? 65_535;
  }

  /** Bytes held while waiting for the rest of a frame (for slow-loris accounting). */
  get buffered(): number {
    return this.#buf.length;
  }

  /**
   * True when the stream ends in a lone CRLF: a pong (RFC 5626 §4.4.1) if nothing follows.
   * The framer holds it back because it could be the first half of a ping.
   */
  get pendingCrlf(): boolean {
    return this.#buf.length === 2 && this.#buf[0] === 13 && this.#buf[1] === 10;
  }

  push(chunk: Buffer): StreamFrame[] {
    if (this.#failed) throw new SipParseError('truncated', 'framer already failed');
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: StreamFrame[] = [];
    try {
      for (let guard = 0; guard < 100_000; guard++) {
        const frame = this.#next();
        if (frame === undefined) break;
        out.push(frame);
      }
    } catch (e) {
      this.#failed = true;
      this.#buf = Buffer.alloc(0);
      throw e;
    }
    return out;
  }

  #next(): StreamFrame | undefined {
    const b = this.#buf;
    if (b.length === 0) return undefined;
    if (b[0] === 13) {
      if (b.length < 2) return undefined;
      if (b[1] !== 10) throw new SipParseError('start-line', 'CR not followed by LF');
      if (b.length >= 4 && b[2] === 13 && b[3] === 10) {
        this.#buf = b.subarray(4);
        return { type: 'ping' };
      }
      // a lone CRLF may be the first half of a ping: wait for the next byte
      if (b.length === 2 || (b.length === 3 && b[2] === 13)) return undefined;
      this.#buf = b.subarray(2);
      return { type: 'pong' };
    }
    const end = b.indexOf(CRLFCRLF, Math.max(0, this.#scanned - 3));
    if (end < 0) {
      this.#scanned = b.length;
      if (b.length > this.#maxHeader)
        throw new SipParseError('too-large', 'header block too large', 513);
      return undefined;
    }
    const headLen = end + 4;
    if (headLen > this.#maxHeader)
      throw new SipParseError('too-large', 'header block too large', 513);
    const head = b.toString('latin1', 0, headLen);
    const m = CL_RE.exec(head);
    let bodyLen = 0;
    if (m === null) {
      if (CL_ANY_RE.test(head))
        throw new SipParseError('content-length', 'unreadable Content-Length');
      throw new SipParseError(
        'content-length',
        'Content-Length is mandatory on streams (RFC 3261 §18.3)',
      );
    }
    if (m[1]!.length > 9) throw new SipParseError('too-large', 'body too large', 513);
    bodyLen = Number(m[1]);
    if (bodyLen > this.#maxBody) throw new SipParseError('too-large', 'body too large', 513);
    if (b.length < headLen + bodyLen) return undefined;
    const data = b.subarray(0, headLen + bodyLen);
    this.#buf = b.subarray(headLen + bodyLen);
    this.#scanned = 0;
    return { type: 'message', data };
  }
}
