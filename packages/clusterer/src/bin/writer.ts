import { BIN_HEADER_SIZE, BIN_MARKER, BIN_MAX_PACKET, BIN_MAX_STR } from './constants.js';

/**
 * A growable little-endian writer for one BIN packet. `begin` writes the header with a zero
 * length; `finish` back-fills the total length and returns a view of the bytes.
 */
export class BinWriter {
  #buf: Buffer;
  #pos = 0;
  readonly #maxPacket: number;

  constructor(initial = 256, maxPacket = BIN_MAX_PACKET) {
    this.#buf = Buffer.allocUnsafe(initial);
    this.#maxPacket = maxPacket;
  }

  #ensure(n: number): void {
    const need = this.#pos + n;
    if (need <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  begin(capability: string, version: number, type: number): this {
    this.#pos = 0;
    const cap = Buffer.from(capability, 'latin1');
    if (cap.length === 0 || cap.length > BIN_MAX_STR) throw new RangeError('bad capability length');
    this.#ensure(BIN_HEADER_SIZE + 2 + cap.length + 4);
    BIN_MARKER.copy(this.#buf, 0);
    this.#buf.writeUInt32LE(0, 4);
    this.#buf.writeInt16LE(version, 8);
    this.#buf.writeUInt16LE(cap.length, 10);
    cap.copy(this.#buf, 12);
    this.#pos = 12 + cap.length;
    this.#buf.writeInt32LE(type | 0, this.#pos);
    this.#pos += 4;
    return this;
  }

  int(v: number): this {
    this.#ensure(4);
    this.#buf.writeInt32LE(v | 0, this.#pos);
    this.#pos += 4;
    return this;
  }

  /** A u16 length then the bytes; `null`/empty are written as length 0. */
  str(v: string | Buffer | null): this {
    const bytes = v === null ? null : typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    const len = bytes === null ? 0 : bytes.length;
    if (len > BIN_MAX_STR) throw new RangeError(`string of ${len} bytes exceeds ${BIN_MAX_STR}`);
    this.#ensure(2 + len);
    this.#buf.writeUInt16LE(len, this.#pos);
    this.#pos += 2;
    if (bytes !== null) {
      bytes.copy(this.#buf, this.#pos);
      this.#pos += len;
    }
    return this;
  }

  /** Raw bytes with no length prefix (module bodies, sync chunks). */
  raw(bytes: Buffer): this {
    this.#ensure(bytes.length);
    bytes.copy(this.#buf, this.#pos);
    this.#pos += bytes.length;
    return this;
  }

  /** Current write offset (for back-filling chunk lengths). */
  get offset(): number {
    return this.#pos;
  }

  patchInt(offset: number, v: number): void {
    this.#buf.writeInt32LE(v | 0, offset);
  }

  /** Back-fill the total length; returns a copy the caller owns. */
  finish(): Buffer {
    if (this.#pos > this.#maxPacket) {
      throw new RangeError(`BIN packet of ${this.#pos} bytes exceeds ${this.#maxPacket}`);
    }
    this.#buf.writeUInt32LE(this.#pos, 4);
    return Buffer.from(this.#buf.subarray(0, this.#pos));
  }
}
