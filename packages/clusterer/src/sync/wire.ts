/**
 * The sipedge-only side of sync on the wire: packets of the `sipedge-sync` capability (OpenSIPS
 * drops them unread) and a peek into SYNC packets too broken to decode. Sans-I/O: bodies in,
 * fields out; a decoder throws a RangeError on a short body.
 */
import { CAP_EXTRA, MsgType } from '../bin/constants.js';
import { decodeHeader, type RoutedPacket } from '../bin/packet.js';

/** Sipedge-only capability carrying the dataset digest of a sync (OpenSIPS drops it unread). */
export const SIPEDGE_SYNC_CAP = 'sipedge-sync';
/** Sent before SYNC_END: `str capability, int chunks, str digest`. */
export const SIPEDGE_SYNC_DIGEST = 1;
/** Anti-entropy: `str capability, str digest, int is_reply` (merge-mode capabilities). */
export const SIPEDGE_SYNC_COMPARE = 2;
/**
 * Sent by a sipedge donor (through the same ordered queue) before the first SYNC of each
 * reply: `str capability`. A receiver that has seen one from a donor takes that donor's
 * SYNC, digest and SYNC_END only after the start of the reply to its latest request, so the
 * tail of an abandoned earlier reply still in the pipe is never counted into a new sync.
 */
export const SIPEDGE_SYNC_STREAM_START = 3;
/**
 * A node waiting for a donor that no reachable node can be: `str capability, double stamp,
 * int flags` (bit 0: a seed node). Sent to the reachable nodes holding the capability once a
 * second while it waits, so the nodes of a majority agree on which of them declares its data
 * synced (docs/protocols/bin-clusterer.md §6).
 */
export const SIPEDGE_SYNC_STANDING = 4;

/** A `sipedge-sync` packet of `type` from `src` to `dst` (version 1). */
export function sipedgeSyncPacket(
  cluster: number,
  src: number,
  dst: number,
  type: number,
  body: Buffer,
): RoutedPacket {
  return {
    kind: 'module',
    cluster,
    src,
    dst,
    capability: SIPEDGE_SYNC_CAP,
    version: 1,
    type,
    body,
  };
}

/** Bytes of a SYNC packet besides its chunks (header, capability, data version, trailer). */
export function syncPacketOverhead(capability: string): number {
  return 12 + 15 + 4 + 2 + Buffer.byteLength(capability) + 4 + 12;
}

export function encodeStreamStart(capability: string): Buffer {
  const name = Buffer.from(capability);
  const body = Buffer.alloc(2 + name.length);
  body.writeUInt16LE(name.length, 0);
  name.copy(body, 2);
  return body;
}

/** The capability a stream start names. */
export function decodeStreamStart(body: Buffer): string {
  const nl = body.readUInt16LE(0);
  if (2 + nl > body.length) throw new RangeError('short');
  return body.toString('utf8', 2, 2 + nl);
}

export interface Standing {
  capability: string;
  /** The module's stamp of the data it held when it started waiting (higher = newer). */
  stamp: number;
  seed: boolean;
}

export function encodeStanding(s: Standing): Buffer {
  const name = Buffer.from(s.capability);
  const body = Buffer.alloc(2 + name.length + 8 + 4);
  let o = body.writeUInt16LE(name.length, 0);
  o += name.copy(body, o);
  o = body.writeDoubleLE(s.stamp, o);
  body.writeInt32LE(s.seed ? 1 : 0, o);
  return body;
}

export function decodeStanding(body: Buffer): Standing {
  const nl = body.readUInt16LE(0);
  const o = 2 + nl;
  if (o + 12 > body.length) throw new RangeError('short');
  const stamp = body.readDoubleLE(o);
  if (!Number.isFinite(stamp)) throw new RangeError('stamp');
  return {
    capability: body.toString('utf8', 2, o),
    stamp,
    seed: (body.readInt32LE(o + 8) & 1) === 1,
  };
}

export interface SyncDigest {
  capability: string;
  /** Chunks the donor sent. */
  total: number;
  digest: string;
}

export function encodeSyncDigest(d: SyncDigest): Buffer {
  const name = Buffer.from(d.capability);
  const digest = Buffer.from(d.digest);
  const body = Buffer.alloc(2 + name.length + 4 + 2 + digest.length);
  let o = body.writeUInt16LE(name.length, 0);
  o += name.copy(body, o);
  o = body.writeInt32LE(d.total, o);
  o = body.writeUInt16LE(digest.length, o);
  digest.copy(body, o);
  return body;
}

export function decodeSyncDigest(body: Buffer): SyncDigest {
  const nl = body.readUInt16LE(0);
  const capability = body.toString('utf8', 2, 2 + nl);
  const o = 2 + nl;
  const total = body.readInt32LE(o);
  const dl = body.readUInt16LE(o + 4);
  if (o + 6 + dl > body.length) throw new RangeError('short');
  return { capability, total, digest: body.toString('utf8', o + 6, o + 6 + dl) };
}

export interface DigestCompare {
  capability: string;
  digest: string;
  /** The answer to a compare (a mismatch is not answered again). */
  reply: boolean;
}

export function encodeCompare(c: DigestCompare): Buffer {
  const name = Buffer.from(c.capability);
  const digest = Buffer.from(c.digest);
  const body = Buffer.alloc(2 + name.length + 2 + digest.length + 4);
  let o = body.writeUInt16LE(name.length, 0);
  o += name.copy(body, o);
  o = body.writeUInt16LE(digest.length, o);
  o += digest.copy(body, o);
  body.writeInt32LE(c.reply ? 1 : 0, o);
  return body;
}

export function decodeCompare(body: Buffer): DigestCompare {
  const nl = body.readUInt16LE(0);
  const capability = body.toString('utf8', 2, 2 + nl);
  let o = 2 + nl;
  const dl = body.readUInt16LE(o);
  o += 2;
  if (o + dl + 4 > body.length) throw new RangeError('short');
  return {
    capability,
    digest: body.toString('utf8', o, o + dl),
    reply: body.readInt32LE(o + dl) === 1,
  };
}

/**
 * Who a SYNC packet that failed to decode (broken chunk framing) came from and for which
 * capability, read from its header, capability string and trailer; undefined when it is not a
 * SYNC or too short to tell. Throws when the header itself is unreadable.
 */
export function peekBrokenSync(
  raw: Buffer,
): { cluster: number; src: number; dst: number; capability: string } | undefined {
  const h = decodeHeader(raw);
  if (h.capability !== CAP_EXTRA || h.type !== MsgType.SYNC || raw.length < h.bodyOffset + 14)
    return undefined;
  const len = raw.readUInt16LE(h.bodyOffset);
  const end = h.bodyOffset + 2 + len;
  if (end > raw.length - 12) return undefined;
  return {
    capability: raw.toString('latin1', h.bodyOffset + 2, end),
    cluster: raw.readInt32LE(raw.length - 12),
    src: raw.readInt32LE(raw.length - 8),
    dst: raw.readInt32LE(raw.length - 4),
  };
}
