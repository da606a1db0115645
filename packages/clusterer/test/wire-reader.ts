import { expect } from 'vitest';

/**
 * Hand-written reader following the byte layouts of docs/protocols/bin-clusterer.md §1.1, §2.1,
 * §2.2, §6.4.
 */
export function header(b: Buffer): {
  len: number;
  ver: number;
  cap: string;
  type: number;
  at: number;
} {
  expect(b.toString('latin1', 0, 4)).toBe('P4CK');
  const capLen = b.readUInt16LE(10);
  return {
    len: b.readUInt32LE(4),
    ver: b.readInt16LE(8),
    cap: b.toString('latin1', 12, 12 + capLen),
    type: b.readInt32LE(12 + capLen),
    at: 16 + capLen,
  };
}
/** A u16-length string at `at`, and the offset after it. */
export function str(b: Buffer, at: number): [string, number] {
  const n = b.readUInt16LE(at);
  return [b.toString('latin1', at + 2, at + 2 + n), at + 2 + n];
}
/** The cluster trailer: cluster id, source and destination node. */
export function trailer(b: Buffer): number[] {
  return [b.readInt32LE(b.length - 12), b.readInt32LE(b.length - 8), b.readInt32LE(b.length - 4)];
}
