/**
 * The byte primitives of the replication layout (see codec.ts): little-endian numbers, `str`
 * (u16 length + UTF-8 bytes), `nstr` (`str`, or 0xFFFF for null), f64 with NaN for null. A
 * growable writer, and a reader over one packet or chunk that throws ReplDecodeError.
 */
import { fnv1aBytes } from '@sipedge/core';
import { UsrlocError } from '../errors.js';

const NULL_STR = 0xffff;

/** A replication packet or sync chunk that is not well formed (`USRLOC_REPL_DECODE`). */
export class ReplDecodeError extends UsrlocError {
  constructor(message: string) {
    super('USRLOC_REPL_DECODE', message);
  }
}

/** Node's Buffer#utf8Write (public, but missing from @types/node). */
type WritableBuffer = Buffer & { utf8Write(s: string, offset: number, length: number): number };

/** Bytes of a slab: items of a sync are cut from slabs this large (no copy per item). */
const SLAB = 64 * 1024;

/**
 * A growable little-endian writer. `reset()`/`take()` reuse one buffer and copy each result;
 * `begin()`/`end()` cut results from slabs instead: each is a view that stays valid (its bytes
 * are never written again), for the many small items of a sync.
 */
export class ReplWriter {
  #buf = Buffer.allocUnsafe(1024);
  /** Where the current item starts (0 except in slab use). */
  #start = 0;
  #o = 0;

  /** `end()` handed out views of the buffer: it must not be written from 0 again. */
  #viewsOut = false;

  reset(): this {
    if (this.#viewsOut) {
      this.#buf = Buffer.allocUnsafe(1024);
      this.#viewsOut = false;
    }
    this.#start = 0;
    this.#o = 0;
    return this;
  }

  /** Start an item after the previous one (slab use). */
  begin(): this {
    this.#start = this.#o;
    return this;
  }

  #room(n: number): void {
    if (this.#o + n <= this.#buf.length) return;
    // the current item moves to a new buffer; what is before it is left to its views
    const used = this.#o - this.#start;
    const next = Buffer.allocUnsafe(
      Math.max(this.#start > 0 ? SLAB : this.#buf.length * 2, used + n),
    );
    this.#buf.copy(next, 0, this.#start, this.#o);
    this.#buf = next;
    this.#start = 0;
    this.#o = used;
  }

  u8(v: number): this {
    this.#room(1);
    this.#buf[this.#o++] = v;
    return this;
  }
  u16(v: number): this {
    this.#room(2);
    this.#o = this.#buf.writeUInt16LE(v, this.#o);
    return this;
  }
  u32(v: number): this {
    this.#room(4);
    this.#o = this.#buf.writeUInt32LE(v >>> 0, this.#o);
    return this;
  }
  f64(v: number | null): this {
    this.#room(8);
    this.#o = this.#buf.writeDoubleLE(v ?? Number.NaN, this.#o);
    return this;
  }
  str(s: string): this {
    // at most 3 UTF-8 bytes per UTF-16 unit: room without measuring the string first
    const max = s.length < 21845 ? 3 * s.length : Buffer.byteLength(s);
    if (max >= NULL_STR && Buffer.byteLength(s) >= NULL_STR)
      throw new RangeError(`string of ${Buffer.byteLength(s)} bytes is too long to replicate`);
    this.#room(2 + max);
    const buf = this.#buf;
    const o = this.#o + 2;
    let n = 0;
    // short ASCII strings (ids, AoRs, Call-IDs, URIs): a byte loop, cheaper than the native call
    if (s.length <= 64) {
      while (n < s.length) {
        const c = s.charCodeAt(n);
        if (c >= 0x80) break;
        buf[o + n++] = c;
      }
    }
    if (n < s.length) n = (buf as WritableBuffer).utf8Write(s, o, max);
    buf[this.#o] = n & 0xff;
    buf[this.#o + 1] = n >>> 8;
    this.#o += 2 + n;
    return this;
  }
  nstr(s: string | null): this {
    return s === null ? this.u16(NULL_STR) : this.str(s);
  }
  /** Bytes written since the last reset (or begin). */
  get length(): number {
    return this.#o - this.#start;
  }
  /** What was written, without a copy (valid until the writer is reset). */
  view(): Buffer {
    return this.#buf.subarray(this.#start, this.#o);
  }
  /** A copy of what was written. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.#o - this.#start);
    this.#buf.copy(out, 0, this.#start, this.#o);
    return out;
  }
  /** The item written since `begin()`, as a view that stays valid (slab use). */
  end(): Buffer {
    this.#viewsOut = true;
    return this.#buf.subarray(this.#start, this.#o);
  }
}

/** Node's Buffer#utf8Slice (public, but missing from @types/node). */
type SliceableBuffer = Buffer & { utf8Slice(start: number, end: number): string };

/**
 * One string per distinct short value for the fields most bindings share (params, Path,
 * User-Agent, socket, methods, sharing tag): a joiner's sync of 1,000,000 bindings then keeps a
 * few thousand strings for them instead of millions (less memory, much less GC). Looked up by
 * an FNV-1a hash of the bytes and confirmed by a byte compare; bounded (cleared when full).
 */
export class Interner {
  readonly #map = new Map<number, { bytes: Buffer; str: string }>();

  get(b: Buffer, o: number, n: number): string {
    if (n > 128) return (b as SliceableBuffer).utf8Slice(o, o + n);
    const h = fnv1aBytes(b, o, o + n);
    const hit = this.#map.get(h);
    if (hit !== undefined && hit.bytes.length === n) {
      // a byte loop: cheaper than a native compare call for strings this short
      const k = hit.bytes;
      let i = 0;
      while (i < n && k[i] === b[o + i]) i++;
      if (i === n) return hit.str;
    }
    const str = (b as SliceableBuffer).utf8Slice(o, o + n);
    if (this.#map.size >= 4096) this.#map.clear();
    this.#map.set(h, { bytes: Buffer.from(b.subarray(o, o + n)), str });
    return str;
  }
}

export class ReplReader {
  #o = 0;
  constructor(private b: Buffer) {}
  /** Read `b` from its start (one reader reused for the many items of a sync). */
  reset(b: Buffer): this {
    this.b = b;
    this.#o = 0;
    return this;
  }
  #need(n: number): void {
    if (this.#o + n > this.b.length) throw new ReplDecodeError('truncated');
  }
  u8(): number {
    this.#need(1);
    return this.b.readUInt8(this.#o++);
  }
  u16(): number {
    this.#need(2);
    const v = this.b.readUInt16LE(this.#o);
    this.#o += 2;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.b.readUInt32LE(this.#o);
    this.#o += 4;
    return v;
  }
  f64(): number {
    this.#need(8);
    const v = this.b.readDoubleLE(this.#o);
    this.#o += 8;
    return v;
  }
  nstr(): string | null {
    const n = this.u16();
    if (n === NULL_STR) return null;
    this.#need(n);
    // utf8Slice: toString without its argument checks (bounds checked just above)
    const s = n === 0 ? '' : (this.b as SliceableBuffer).utf8Slice(this.#o, this.#o + n);
    this.#o += n;
    return s;
  }
  str(what: string): string {
    const s = this.nstr();
    if (s === null) throw new ReplDecodeError(`${what} missing`);
    return s;
  }
  /** `nstr` through an interner (values repeated across bindings). */
  nshared(cache: Interner): string | null {
    const n = this.u16();
    if (n === NULL_STR) return null;
    this.#need(n);
    const s = n === 0 ? '' : cache.get(this.b, this.#o, n);
    this.#o += n;
    return s;
  }
  get atEnd(): boolean {
    return this.#o >= this.b.length;
  }
  end(): void {
    if (this.#o !== this.b.length) throw new ReplDecodeError('trailing bytes');
  }
}
