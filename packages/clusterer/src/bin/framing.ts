import { BinDecodeError } from '../errors.js';
import { BIN_MARKER, BIN_MAX_PACKET, BIN_MIN_PACKET } from './constants.js';

export interface BinFramerOptions {
  /** Largest accepted packet (default 65535, OpenSIPS `BIN_MAX_BUF_LEN`). */
  maxPacket?: number;
}

/**
 * proto_bin stream framing: packets back to back, each starting with `P4CK` and its u32 total
 * length. A small state machine over one reassembly buffer: bytes in, whole packets out. A bad
 * marker or an impossible length is unrecoverable: `push` returns the error and every later
 * call returns it again (the caller closes the connection).
 */
export class BinFramer {
  readonly #max: number;
  #buf: Buffer;
  #start = 0;
  #end = 0;
  #failed: BinDecodeError | undefined;

  constructor(options: BinFramerOptions = {}) {
    this.#max = options.maxPacket ?? BIN_MAX_PACKET;
    this.#buf = Buffer.allocUnsafe(0);
  }

  /** Bytes held for an incomplete packet. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  get error(): BinDecodeError | undefined {
    return this.#failed;
  }

  /**
   * Feed bytes; returns the complete packets (each a fresh Buffer the caller owns) and an error
   * if the stream became unusable (packets before the error are still returned).
   */
  push(chunk: Buffer): { packets: Buffer[]; error?: BinDecodeError } {
    if (this.#failed !== undefined) return { packets: [], error: this.#failed };
    const packets: Buffer[] = [];
    // Fast path: nothing buffered, parse straight out of the chunk.
    let data: Buffer;
    let pos: number;
    let end: number;
    if (this.#end === this.#start) {
      data = chunk;
      pos = 0;
      end = chunk.length;
    } else {
      this.#append(chunk);
      data = this.#buf;
      pos = this.#start;
      end = this.#end;
    }
    while (end - pos > 0) {
      const avail = end - pos;
      const markerBytes = Math.min(4, avail);
      if (data.compare(BIN_MARKER, 0, markerBytes, pos, pos + markerBytes) !== 0) {
        return this.#fail(
          packets,
          new BinDecodeError('bad_marker', 'stream does not start with P4CK'),
        );
      }
      if (avail < 8) break;
      const len = data.readUInt32LE(pos + 4);
      if (len < BIN_MIN_PACKET)
        return this.#fail(packets, new BinDecodeError('too_short', `packet length ${len}`));
      if (len > this.#max)
        return this.#fail(
          packets,
          new BinDecodeError('too_long', `packet length ${len} > ${this.#max}`),
        );
      if (avail < len) break;
      packets.push(Buffer.from(data.subarray(pos, pos + len)));
      pos += len;
    }
    if (data === chunk) {
      this.#start = 0;
      this.#end = 0;
      if (pos < end) this.#append(chunk.subarray(pos, end));
    } else {
      this.#start = pos;
      if (this.#start === this.#end) {
        this.#start = 0;
        this.#end = 0;
      }
    }
    return { packets };
  }

  #fail(packets: Buffer[], error: BinDecodeError): { packets: Buffer[]; error: BinDecodeError } {
    this.#failed = error;
    this.#buf = Buffer.allocUnsafe(0);
    this.#start = 0;
    this.#end = 0;
    return { packets, error };
  }

  #append(chunk: Buffer): void {
    const held = this.#end - this.#start;
    const need = held + chunk.length;
    if (this.#buf.length - this.#end >= chunk.length) {
      chunk.copy(this.#buf, this.#end);
      this.#end += chunk.length;
      return;
    }
    // Compact or grow; the buffer never needs more than one max packet plus one read.
    const size = Math.max(
      need,
      Math.min(this.#buf.length * 2 || 4096, this.#max + chunk.length),
      4096,
    );
    const next = size <= this.#buf.length ? this.#buf : Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, this.#start, this.#end);
    chunk.copy(next, held);
    this.#buf = next;
    this.#start = 0;
    this.#end = need;
  }
}
