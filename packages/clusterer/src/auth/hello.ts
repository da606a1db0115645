/**
 * The hello of sipedge's shared-secret link authentication: the first packet a node writes on
 * every BIN connection it opens when `auth_secret` is set (docs/protocols/bin-clusterer.md §9.3).
 * Sans-I/O: fields in, bytes out, and back; the MAC is an HMAC-SHA256 keyed by the secret.
 *
 * Capability `sipedge-auth`, version 1, type 1; body `int src, int dst, int timestamp, str nonce,
 * str mac`: the sender's node id, the node id of the listener it dialled, Unix seconds, 16
 * random bytes, and 32 bytes of HMAC over a label and those four fields. No trailer: a hello
 * belongs to the connection, not to a cluster. OpenSIPS drops the capability unread.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeHeader } from '../bin/packet.js';
import { BinReader } from '../bin/reader.js';
import { BinWriter } from '../bin/writer.js';

export const SIPEDGE_AUTH_CAP = 'sipedge-auth';
export const HELLO_VERSION = 1;
export const HELLO_TYPE = 1;
export const HELLO_NONCE_BYTES = 16;
const MAC_BYTES = 32;
/** Binds the MAC to this use of the secret, so no other sipedge HMAC can stand in for it. */
const MAC_LABEL = Buffer.from('sipedge-bin-auth/1\0', 'latin1');

export interface Hello {
  src: number;
  dst: number;
  /** Unix seconds. */
  timestamp: number;
  nonce: Buffer;
  mac: Buffer;
}

/** The MAC of a hello's fields under `secret`. */
export function helloMac(
  secret: string,
  f: Pick<Hello, 'src' | 'dst' | 'timestamp' | 'nonce'>,
): Buffer {
  const ints = Buffer.allocUnsafe(12);
  ints.writeInt32LE(f.src, 0);
  ints.writeInt32LE(f.dst, 4);
  ints.writeInt32LE(f.timestamp, 8);
  return createHmac('sha256', secret).update(MAC_LABEL).update(ints).update(f.nonce).digest();
}

/** A signed hello from `src` to the listener of `dst`, at `nowMs`. */
export function encodeHello(secret: string, src: number, dst: number, nowMs: number): Buffer {
  const fields = {
    src,
    dst,
    timestamp: Math.floor(nowMs / 1000),
    nonce: randomBytes(HELLO_NONCE_BYTES),
  };
  return new BinWriter(96)
    .begin(SIPEDGE_AUTH_CAP, HELLO_VERSION, HELLO_TYPE)
    .int(fields.src)
    .int(fields.dst)
    .int(fields.timestamp)
    .str(fields.nonce)
    .str(helloMac(secret, fields))
    .finish();
}

/** Is this whole packet of the `sipedge-auth` capability? (Cheap: reads the name in place.) */
export function isHelloPacket(packet: Buffer): boolean {
  const n = SIPEDGE_AUTH_CAP.length;
  return (
    packet.length >= 12 + n &&
    packet.readUInt16LE(10) === n &&
    packet.toString('latin1', 12, 12 + n) === SIPEDGE_AUTH_CAP
  );
}

/** The fields of a hello; undefined when the packet is not a well-formed one. */
export function decodeHello(packet: Buffer): Hello | undefined {
  try {
    const h = decodeHeader(packet);
    if (h.capability !== SIPEDGE_AUTH_CAP || h.version !== HELLO_VERSION) return undefined;
    if (h.type !== HELLO_TYPE) return undefined;
    const r = new BinReader(packet, h.bodyOffset, h.length);
    const src = r.int('src');
    const dst = r.int('dst');
    const timestamp = r.int('timestamp');
    const nonce = r.bytes('nonce');
    const mac = r.bytes('mac');
    if (nonce.length !== HELLO_NONCE_BYTES || mac.length !== MAC_BYTES) return undefined;
    return { src, dst, timestamp, nonce, mac };
  } catch {
    return undefined;
  }
}

/** Does `hello` carry the MAC `secret` gives its fields? (Constant time.) */
export function helloSignedWith(hello: Hello, secret: string): boolean {
  return timingSafeEqual(helloMac(secret, hello), hello.mac);
}
