import { BinDecodeError } from '../errors.js';
import {
  BIN_HEADER_SIZE,
  BIN_MARKER,
  BIN_MAX_PACKET,
  BIN_MIN_PACKET,
  CAP_EXTRA,
  CAP_INTERNAL,
  CLUSTERER_BIN_VERSION,
  CLUSTERER_SYNC_VERSION,
  LS_DOWN,
  LS_UP,
  MAX_CAPS_PER_NODE,
  MAX_MI_PARAMS,
  MAX_NODES,
  MAX_PATH_DECODE,
  MsgType,
  SYNC_CHUNK_START_MARKER,
} from './constants.js';
import { BinReader } from './reader.js';
import { BinWriter } from './writer.js';

/** The fixed part of every BIN packet. */
export interface BinHeader {
  /** Total length from the marker on (u32). */
  length: number;
  /** Signed 16-bit version set by the capability. */
  version: number;
  capability: string;
  /** Signed 32-bit packet type; its meaning is per capability. */
  type: number;
  /** Offset of the first body byte. */
  bodyOffset: number;
}

/** Node properties sent in NODE_DESCRIPTION and in FULL_TOP_UPDATE entries. */
export interface NodeDescription {
  url: string;
  sipAddr: string;
  priority: number;
  noPingRetries: number;
}

export interface TopologyEntry {
  nodeId: number;
  description?: NodeDescription;
  lsSeq: number;
  lsTimestamp: number;
  neighbours: number[];
}

export interface CapabilityEntry {
  nodeId: number;
  caps: { name: string; ok: boolean }[];
}

interface Internal {
  cluster: number;
  src: number;
}
interface Routed {
  cluster: number;
  src: number;
  dst: number;
}

/** Every clusterer packet of OpenSIPS 3.2–3.6, plus opaque module packets. */
export type ClusterPacket =
  | ({ kind: 'ping'; reqNodeList: boolean } & Internal)
  | ({ kind: 'pong'; nodes: number[] } & Internal)
  | ({
      kind: 'ls_update';
      seq: number;
      timestamp: number;
      neighbour: number;
      up: boolean;
      path: number[];
    } & Internal)
  | ({
      kind: 'full_top_update';
      seq: number;
      timestamp: number;
      nodes: TopologyEntry[];
      path: number[];
    } & Internal)
  | ({ kind: 'unknown_id' } & Internal)
  | ({ kind: 'node_description'; description: NodeDescription; path: number[] } & Internal)
  | ({
      kind: 'cap_update';
      seq: number;
      timestamp: number;
      nodes: CapabilityEntry[];
      requireReply: boolean;
      path: number[];
    } & Internal)
  | ({ kind: 'remove_node'; target: number } & Routed)
  | ({ kind: 'generic_msg'; request: boolean; tag: string; msg: string } & Routed)
  | ({ kind: 'mi_cmd'; command: string; params: string[] } & Routed)
  | ({ kind: 'sync_req'; capability: string } & Routed)
  | ({ kind: 'sync'; capability: string; dataVersion: number; chunks: Buffer[] } & Routed)
  /** `chunks` is absent on BIN_SYNC_VERSION 2 (OpenSIPS 3.0–3.2). */
  | ({ kind: 'sync_end'; capability: string; chunks?: number } & Routed)
  | ({ kind: 'shtag_active'; tag: string } & Routed)
  | ({ kind: 'module'; capability: string; version: number; type: number; body: Buffer } & Routed);

export type PacketKind = ClusterPacket['kind'];
export type InternalPacket = Extract<
  ClusterPacket,
  {
    kind:
      | 'ping'
      | 'pong'
      | 'ls_update'
      | 'full_top_update'
      | 'unknown_id'
      | 'node_description'
      | 'cap_update';
  }
>;
export type RoutedPacket = Exclude<ClusterPacket, InternalPacket>;

const INTERNAL_KINDS = new Set<PacketKind>([
  'ping',
  'pong',
  'ls_update',
  'full_top_update',
  'unknown_id',
  'node_description',
  'cap_update',
]);

export function isInternal(p: ClusterPacket): p is InternalPacket {
  return INTERNAL_KINDS.has(p.kind);
}

/** Parse and validate the header of one complete packet. */
export function decodeHeader(buf: Buffer, maxPacket = BIN_MAX_PACKET): BinHeader {
  if (buf.length < BIN_MIN_PACKET)
    throw new BinDecodeError('too_short', `packet of ${buf.length} bytes`);
  if (buf.compare(BIN_MARKER, 0, 4, 0, 4) !== 0)
    throw new BinDecodeError('bad_marker', 'missing P4CK marker');
  const length = buf.readUInt32LE(4);
  if (length < BIN_MIN_PACKET) throw new BinDecodeError('too_short', `declared length ${length}`);
  if (length > maxPacket)
    throw new BinDecodeError('too_long', `declared length ${length} > ${maxPacket}`);
  if (length !== buf.length) {
    throw new BinDecodeError('length_mismatch', `declared length ${length}, have ${buf.length}`);
  }
  const version = buf.readInt16LE(8);
  const capLen = buf.readUInt16LE(BIN_HEADER_SIZE);
  if (capLen === 0) throw new BinDecodeError('bad_capability', 'empty capability');
  const bodyOffset = 12 + capLen + 4;
  if (bodyOffset > length) throw new BinDecodeError('truncated', 'capability runs past the packet');
  const capability = buf.toString('latin1', 12, 12 + capLen);
  const type = buf.readInt32LE(12 + capLen);
  return { length, version, capability, type, bodyOffset };
}

function readPath(r: BinReader): number[] {
  const n = r.count('path_len', MAX_PATH_DECODE, 4);
  const path: number[] = [];
  for (let i = 0; i < n; i++) path.push(r.int('path id'));
  return path;
}

function readIds(r: BinReader, what: string): number[] {
  const n = r.count(what, MAX_NODES, 4);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(r.int(what));
  return ids;
}

function readDescription(r: BinReader): NodeDescription {
  const url = r.str('url');
  const sipAddr = r.str('sip_addr');
  const priority = r.int('priority');
  const noPingRetries = r.int('no_ping_retries');
  return { url, sipAddr, priority, noPingRetries };
}

function bool01(v: number, what: string): boolean {
  if (v !== 0 && v !== 1) throw new BinDecodeError('bad_field', `${what} must be 0 or 1, got ${v}`);
  return v === 1;
}

function decodeInternal(h: BinHeader, r: BinReader): InternalPacket {
  const cluster = r.int('cluster_id');
  const src = r.int('src_node_id');
  switch (h.type) {
    case MsgType.PING:
      return { kind: 'ping', cluster, src, reqNodeList: r.int('req_node_list') !== 0 };
    case MsgType.PONG:
      return { kind: 'pong', cluster, src, nodes: readIds(r, 'pong node count') };
    case MsgType.LS_UPDATE: {
      const seq = r.int('ls_seq');
      const timestamp = r.int('timestamp');
      const neighbour = r.int('neighbour_id');
      const state = r.int('new_state');
      if (state !== LS_UP && state !== LS_DOWN)
        throw new BinDecodeError('bad_field', `link state ${state}`);
      return {
        kind: 'ls_update',
        cluster,
        src,
        seq,
        timestamp,
        neighbour,
        up: state === LS_UP,
        path: readPath(r),
      };
    }
    case MsgType.FULL_TOP_UPDATE: {
      const seq = r.int('top_seq');
      const timestamp = r.int('timestamp');
      const n = r.count('n_nodes', MAX_NODES, 20);
      const nodes: TopologyEntry[] = [];
      for (let i = 0; i < n; i++) {
        const nodeId = r.int('node_id');
        const hasDescr = bool01(r.int('has_descr'), 'has_descr');
        const description = hasDescr ? readDescription(r) : undefined;
        const lsSeq = r.int('ls_seq');
        const lsTimestamp = r.int('ls_timestamp');
        const neighbours = readIds(r, 'n_neigh');
        const entry: TopologyEntry = { nodeId, lsSeq, lsTimestamp, neighbours };
        if (description !== undefined) entry.description = description;
        nodes.push(entry);
      }
      return { kind: 'full_top_update', cluster, src, seq, timestamp, nodes, path: readPath(r) };
    }
    case MsgType.UNKNOWN_ID:
      return { kind: 'unknown_id', cluster, src };
    case MsgType.NODE_DESCRIPTION: {
      const description = readDescription(r);
      return { kind: 'node_description', cluster, src, description, path: readPath(r) };
    }
    case MsgType.CAP_UPDATE: {
      const seq = r.int('cap_seq');
      const timestamp = r.int('timestamp');
      const n = r.count('n_nodes', MAX_NODES, 8);
      const nodes: CapabilityEntry[] = [];
      for (let i = 0; i < n; i++) {
        const nodeId = r.int('node_id');
        const nc = r.count('n_caps', MAX_CAPS_PER_NODE, 6);
        const caps: { name: string; ok: boolean }[] = [];
        for (let j = 0; j < nc; j++) {
          const name = r.str('cap_name');
          caps.push({ name, ok: r.int('cap_state') !== 0 });
        }
        nodes.push({ nodeId, caps });
      }
      const requireReply = r.int('require_reply') !== 0;
      return {
        kind: 'cap_update',
        cluster,
        src,
        seq,
        timestamp,
        nodes,
        requireReply,
        path: readPath(r),
      };
    }
    default:
      throw new BinDecodeError('unknown_type', `unknown clusterer-internal type ${h.type}`);
  }
}

function decodeExtra(h: BinHeader, r: BinReader): RoutedPacket {
  const t = r.trailer();
  switch (h.type) {
    case MsgType.REMOVE_NODE:
      return { kind: 'remove_node', ...t, target: r.int('target_node_id') };
    case MsgType.GENERIC_MSG: {
      const request = r.int('req_like') !== 0;
      const tag = r.str('tag');
      return { kind: 'generic_msg', ...t, request, tag, msg: r.str('msg') };
    }
    case MsgType.MI_CMD: {
      const command = r.str('cmd_name');
      const n = r.count('n_params', MAX_MI_PARAMS, 2);
      const params: string[] = [];
      for (let i = 0; i < n; i++) params.push(r.str('mi param'));
      return { kind: 'mi_cmd', ...t, command, params };
    }
    case MsgType.SYNC_REQ:
      return { kind: 'sync_req', ...t, capability: r.str('capability') };
    case MsgType.SYNC: {
      const capability = r.str('capability');
      const dataVersion = r.int('data_version');
      const chunks: Buffer[] = [];
      while (r.remaining > 0) {
        const len = r.int('chunk_len');
        const marker = r.int('chunk marker');
        if (marker !== SYNC_CHUNK_START_MARKER)
          throw new BinDecodeError('bad_field', `bad sync chunk marker ${marker}`);
        if (len < 0 || len > r.remaining)
          throw new BinDecodeError('bad_count', `sync chunk length ${len}`);
        // views into the packet (a buffer the framer made for it alone): no copy per chunk
        chunks.push(r.buf.subarray(r.pos, r.pos + len));
        r.pos += len;
      }
      return { kind: 'sync', ...t, capability, dataVersion, chunks };
    }
    case MsgType.SYNC_END: {
      const capability = r.str('capability');
      if (h.version < 3) return { kind: 'sync_end', ...t, capability };
      return { kind: 'sync_end', ...t, capability, chunks: r.int('chunks_sent') };
    }
    case MsgType.SHTAG_ACTIVE:
      return { kind: 'shtag_active', ...t, tag: r.str('tag_name') };
    default:
      throw new BinDecodeError('unknown_type', `unknown clusterer-extra type ${h.type}`);
  }
}

/**
 * Decode one complete packet (exactly `length` bytes). Throws only BinDecodeError.
 * Capabilities other than the clusterer's two come back as `module` packets with their
 * trailer removed and the body left opaque.
 */
export function decodePacket(buf: Buffer, maxPacket = BIN_MAX_PACKET): ClusterPacket {
  const h = decodeHeader(buf, maxPacket);
  const r = new BinReader(buf, h.bodyOffset, h.length);
  if (h.capability === CAP_INTERNAL) return decodeInternal(h, r);
  if (h.capability === CAP_EXTRA) return decodeExtra(h, r);
  const t = r.trailer();
  const body = Buffer.from(buf.subarray(r.pos, r.end));
  return { kind: 'module', ...t, capability: h.capability, version: h.version, type: h.type, body };
}

/** Like decodePacket but returns the error instead of throwing. */
export function tryDecodePacket(
  buf: Buffer,
  maxPacket = BIN_MAX_PACKET,
): { ok: true; packet: ClusterPacket } | { ok: false; error: BinDecodeError } {
  try {
    return { ok: true, packet: decodePacket(buf, maxPacket) };
  } catch (e) {
    if (e instanceof BinDecodeError) return { ok: false, error: e };
    return {
      ok: false,
      error: new BinDecodeError('bad_field', e instanceof Error ? e.message : String(e)),
    };
  }
}

function writeDescription(w: BinWriter, d: NodeDescription): void {
  w.str(d.url).str(d.sipAddr).int(d.priority).int(d.noPingRetries);
}

function writeIds(w: BinWriter, ids: readonly number[]): void {
  w.int(ids.length);
  for (const id of ids) w.int(id);
}

const TYPE_OF: Record<Exclude<PacketKind, 'module'>, number> = {
  ping: MsgType.PING,
  pong: MsgType.PONG,
  ls_update: MsgType.LS_UPDATE,
  full_top_update: MsgType.FULL_TOP_UPDATE,
  unknown_id: MsgType.UNKNOWN_ID,
  node_description: MsgType.NODE_DESCRIPTION,
  remove_node: MsgType.REMOVE_NODE,
  generic_msg: MsgType.GENERIC_MSG,
  mi_cmd: MsgType.MI_CMD,
  cap_update: MsgType.CAP_UPDATE,
  sync_req: MsgType.SYNC_REQ,
  sync: MsgType.SYNC,
  sync_end: MsgType.SYNC_END,
  shtag_active: MsgType.SHTAG_ACTIVE,
};

/** Encode a packet byte-exactly as OpenSIPS 3.4–3.6 would. Throws RangeError on oversize. */
export function encodePacket(p: ClusterPacket, maxPacket = BIN_MAX_PACKET): Buffer {
  const w = new BinWriter(128, maxPacket);
  if (p.kind === 'module') {
    w.begin(p.capability, p.version, p.type).raw(p.body);
    return w.int(p.cluster).int(p.src).int(p.dst).finish();
  }
  const type = TYPE_OF[p.kind];
  if (isInternal(p)) {
    w.begin(CAP_INTERNAL, CLUSTERER_BIN_VERSION, type).int(p.cluster).int(p.src);
    switch (p.kind) {
      case 'ping':
        w.int(p.reqNodeList ? 1 : 0);
        break;
      case 'pong':
        writeIds(w, p.nodes);
        break;
      case 'ls_update':
        w.int(p.seq)
          .int(p.timestamp)
          .int(p.neighbour)
          .int(p.up ? LS_UP : LS_DOWN);
        writeIds(w, p.path);
        break;
      case 'full_top_update':
        w.int(p.seq).int(p.timestamp).int(p.nodes.length);
        for (const e of p.nodes) {
          w.int(e.nodeId);
          if (e.description !== undefined) {
            w.int(1);
            writeDescription(w, e.description);
          } else {
            w.int(0);
          }
          w.int(e.lsSeq).int(e.lsTimestamp);
          writeIds(w, e.neighbours);
        }
        writeIds(w, p.path);
        break;
      case 'unknown_id':
        break;
      case 'node_description':
        writeDescription(w, p.description);
        writeIds(w, p.path);
        break;
      case 'cap_update':
        w.int(p.seq).int(p.timestamp).int(p.nodes.length);
        for (const n of p.nodes) {
          w.int(n.nodeId).int(n.caps.length);
          for (const c of n.caps) w.str(c.name).int(c.ok ? 1 : 0);
        }
        w.int(p.requireReply ? 1 : 0);
        writeIds(w, p.path);
        break;
    }
    return w.finish();
  }
  const syncKind = p.kind === 'sync_req' || p.kind === 'sync' || p.kind === 'sync_end';
  w.begin(CAP_EXTRA, syncKind ? CLUSTERER_SYNC_VERSION : CLUSTERER_BIN_VERSION, type);
  switch (p.kind) {
    case 'remove_node':
      w.int(p.target);
      break;
    case 'generic_msg':
      w.int(p.request ? 1 : 0)
        .str(p.tag)
        .str(p.msg);
      break;
    case 'mi_cmd':
      w.str(p.command).int(p.params.length);
      for (const s of p.params) w.str(s);
      break;
    case 'sync_req':
      w.str(p.capability);
      break;
    case 'sync':
      w.str(p.capability).int(p.dataVersion);
      for (const c of p.chunks) w.int(c.length).int(SYNC_CHUNK_START_MARKER).raw(c);
      break;
    case 'sync_end':
      w.str(p.capability).int(p.chunks ?? 0);
      break;
    case 'shtag_active':
      w.str(p.tag);
      break;
  }
  return w.int(p.cluster).int(p.src).int(p.dst).finish();
}

/**
 * Rewrite the destination id of an encoded routed packet in place (the last int), as OpenSIPS
 * does for every unicast of a broadcast.
 */
export function setTrailerDst(buf: Buffer, dst: number): void {
  buf.writeInt32LE(dst | 0, buf.length - 4);
}
