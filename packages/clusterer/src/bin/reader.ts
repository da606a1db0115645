import { BinDecodeError } from '../errors.js';

/** A bounds-checked little-endian cursor over one packet body; throws only BinDecodeError. */
export class BinReader {
  pos: number;
  end: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    end: number = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  int(what = 'int'): number {
    if (this.end - this.pos < 4) throw new BinDecodeError('truncated', `truncated ${what}`);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A count bounded by `max` and by the bytes left (each item needs at least `minItem` bytes). */
  count(what: string, max: number, minItem: number): number {
    const n = this.int(what);
    if (n < 0 || n > max)
      throw new BinDecodeError('bad_count', `${what} ${n} out of range 0..${max}`);
    if (n * minItem > this.remaining)
      throw new BinDecodeError('bad_count', `${what} ${n} exceeds the packet`);
    return n;
  }

  bytes(what = 'str'): Buffer {
    if (this.end - this.pos < 2) throw new BinDecodeError('truncated', `truncated ${what} length`);
    const len = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    if (this.end - this.pos < len) throw new BinDecodeError('truncated', `truncated ${what}`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  str(what = 'str'): string {
    return this.bytes(what).toString('utf8');
  }

  /** Take three ints off the end (cluster, src, dst), shrinking the readable range. */
  trailer(): { cluster: number; src: number; dst: number } {
    if (this.end - this.pos < 12)
      throw new BinDecodeError('truncated', 'truncated cluster trailer');
    const dst = this.buf.readInt32LE(this.end - 4);
    const src = this.buf.readInt32LE(this.end - 8);
    const cluster = this.buf.readInt32LE(this.end - 12);
    this.end -= 12;
    return { cluster, src, dst };
  }

  done(what: string): void {
    if (this.pos !== this.end) {
      throw new BinDecodeError(
        'trailing_bytes',
        `${this.end - this.pos} unexpected bytes after ${what}`,
      );
    }
  }
}
