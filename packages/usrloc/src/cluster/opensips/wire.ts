/**
 * The byte primitives of OpenSIPS's BIN bodies: `int` (4 bytes, little-endian), `str` (u16
 * length, then the bytes; null and "" both length 0), and the "native" fields usrloc wraps in
 * a `str`: the raw memory of a C integer (`time_t` and `uint64_t` 8 bytes, `int` 4), in the
 * sender's byte order, little-endian on x86-64 and arm64. The reader throws ReplDecodeError.
 */
import { ReplDecodeError } from '../bytes.js';

const MAX_STR = 0xffff;

export class UlBinReader {
  readonly #b: Buffer;
  #o = 0;
  constructor(b: Buffer) {
    this.#b = b;
  }

  #need(n: number, what: string): void {
    if (this.#o + n > this.#b.length) throw new ReplDecodeError(`truncated ${what}`);
  }

  i32(what: string): number {
    this.#need(4, what);
    const v = this.#b.readInt32LE(this.#o);
    this.#o += 4;
    return v;
  }

  /** An `int` holding an unsigned C value (flags, bitmasks, labels). */
  u32(what: string): number {
    this.#need(4, what);
    const v = this.#b.readUInt32LE(this.#o);
    this.#o += 4;
    return v;
  }

  #bytes(what: string): Buffer {
    this.#need(2, `${what} length`);
    const n = this.#b.readUInt16LE(this.#o);
    this.#o += 2;
    this.#need(n, what);
    const v = this.#b.subarray(this.#o, this.#o + n);
    this.#o += n;
    return v;
  }

  str(what: string): string {
    return this.#bytes(what).toString('latin1');
  }

  /** A native 8-byte unsigned integer in a `str` (the contact id). */
  nativeU64(what: string): bigint {
    return this.#native(what, 8).readBigUInt64LE(0);
  }

  /** A native `time_t` in a `str` (Unix seconds). */
  nativeTime(what: string): number {
    const v = this.#native(what, 8).readBigInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      throw new ReplDecodeError(`${what} ${v} out of range`);
    return Number(v);
  }

  /** A native 4-byte `int` in a `str` (q). */
  nativeI32(what: string): number {
    return this.#native(what, 4).readInt32LE(0);
  }

  #native(what: string, size: number): Buffer {
    const b = this.#bytes(what);
    if (b.length !== size)
      throw new ReplDecodeError(`${what} of ${b.length} bytes, expected ${size} (native layout)`);
    return b;
  }

  done(what: string): void {
    if (this.#o !== this.#b.length)
      throw new ReplDecodeError(`${this.#b.length - this.#o} bytes after ${what}`);
  }
}

/** A growable writer of BIN body fields; `take()` returns a copy the caller owns. */
export class UlBinWriter {
  #b = Buffer.allocUnsafe(512);
  #o = 0;

  #room(n: number): void {
    if (this.#o + n <= this.#b.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#b.length * 2, this.#o + n));
    this.#b.copy(next, 0, 0, this.#o);
    this.#b = next;
  }

  i32(v: number): this {
    this.#room(4);
    this.#o = this.#b.writeInt32LE(v | 0, this.#o);
    return this;
  }

  u32(v: number): this {
    this.#room(4);
    this.#o = this.#b.writeUInt32LE(v >>> 0, this.#o);
    return this;
  }

  str(v: string): this {
    const n = Buffer.byteLength(v, 'latin1');
    if (n > MAX_STR) throw new RangeError(`string of ${n} bytes exceeds ${MAX_STR}`);
    this.#room(2 + n);
    this.#o = this.#b.writeUInt16LE(n, this.#o);
    this.#o += this.#b.write(v, this.#o, n, 'latin1');
    return this;
  }

  nativeU64(v: bigint): this {
    this.#room(10);
    this.#o = this.#b.writeUInt16LE(8, this.#o);
    this.#o = this.#b.writeBigUInt64LE(v, this.#o);
    return this;
  }

  nativeTime(v: number): this {
    this.#room(10);
    this.#o = this.#b.writeUInt16LE(8, this.#o);
    this.#o = this.#b.writeBigInt64LE(BigInt(v), this.#o);
    return this;
  }

  nativeI32(v: number): this {
    this.#room(6);
    this.#o = this.#b.writeUInt16LE(4, this.#o);
    this.#o = this.#b.writeInt32LE(v | 0, this.#o);
    return this;
  }

  take(): Buffer {
    const out = Buffer.from(this.#b.subarray(0, this.#o));
    this.#o = 0;
    return out;
  }
}
