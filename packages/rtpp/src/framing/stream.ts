/**
 * Newline framing for the stream transports `cunix:` and `tcp:` (docs/protocols/rtpproxy.md §1.1):
 * a command or a reply line ends at `\n` (a `\r` before it is dropped); a line that has not ended
 * within the limit is a protocol violation and the connection is dropped. Sans-I/O: chunks in,
 * lines out, whatever the chunk boundaries.
 */

/** rtpproxy's per-connection input buffer. */
export const MAX_STREAM_LINE = 8192;

export interface RtppLineDecoderOptions {
  /** Longest line, newline excluded. */
  readonly maxLine?: number;
  /** Keep lines that hold only blanks (a reply to `G` with no names is an empty line). */
  readonly keepBlank?: boolean;
}

export type RtppLineResult =
  | { readonly ok: true; readonly lines: string[] }
  /** A line outgrew the limit: the lines before it are still returned. */
  | { readonly ok: false; readonly lines: string[]; readonly size: number };

function blankOnly(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/** Incremental line splitter. Text is latin1 (one character per byte). */
export class RtppLineDecoder {
  readonly #maxLine: number;
  readonly #keepBlank: boolean;
  #pending = '';
  #failed = false;

  constructor(options: RtppLineDecoderOptions = {}) {
    this.#maxLine = options.maxLine ?? MAX_STREAM_LINE;
    this.#keepBlank = options.keepBlank ?? false;
  }

  /** Bytes held for an unfinished line. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Feeds a chunk; returns the lines it completed. After a failure every push fails. */
  push(chunk: Uint8Array): RtppLineResult {
    const lines: string[] = [];
    if (this.#failed) return { ok: false, lines, size: this.#pending.length };
    const text =
      this.#pending + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString('latin1');
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      let end = nl;
      if (end > start && text.charCodeAt(end - 1) === 13) end--;
      if (end - start > this.#maxLine) return this.#fail(lines, end - start);
      const line = text.slice(start, end);
      if (this.#keepBlank || !blankOnly(line)) lines.push(line);
      start = nl + 1;
    }
    this.#pending = start === 0 ? text : text.slice(start);
    if (this.#pending.length > this.#maxLine) return this.#fail(lines, this.#pending.length);
    return { ok: true, lines };
  }

  #fail(lines: string[], size: number): RtppLineResult {
    this.#failed = true;
    this.#pending = '';
    return { ok: false, lines, size };
  }
}
