import type { Clock, Logger, TimerHandle } from '@sipedge/core';
import type { RoutedPacket } from '../bin/packet.js';
import type { LocalCapability } from './capability.js';
import type { SyncHost, SyncTimers } from './host.js';
import {
  encodeStreamStart,
  encodeSyncDigest,
  SIPEDGE_SYNC_DIGEST,
  SIPEDGE_SYNC_STREAM_START,
  sipedgeSyncPacket,
  syncPacketOverhead,
} from './wire.js';

/** What serving a sync needs: the capabilities, reachability, and sends with flow control. */
export interface ReplyStreamHost
  extends Pick<
    SyncHost,
    | 'myNodeId'
    | 'count'
    | 'reachable'
    | 'speaksSipedge'
    | 'sendRouted'
    | 'sendBulk'
    | 'bulkRoom'
    | 'advertise'
  > {
  capability(name: string, clusterId: number): LocalCapability | undefined;
}

/** One sync reply being streamed to a receiver (donor side). */
interface SyncStream {
  readonly cap: LocalCapability;
  readonly dst: number;
  readonly items: Iterator<Buffer>;
  readonly digest: (() => string) | undefined;
  readonly close: (() => void) | undefined;
  /** The data version the SYNC packets carry (the source's, else the capability's). */
  readonly dataVersion: number;
  /** An item taken from `items` that did not fit in the previous packet. */
  carry: Buffer | undefined;
  total: number;
  packets: number;
  /** The stream-start marker went out. */
  opened: boolean;
  lastProgress: number;
}

/** Bytes a donor without link flow control sends per timer turn before yielding. */
const BURST_BYTES = 1 << 20;

function streamKey(capability: string, dst: number): string {
  return `${capability}/${dst}`;
}

/**
 * The donor side of a sync: answers SYNC_REQ by streaming the module's reply (a stream start,
 * SYNC packets cut at `sync_packet_size`, the digest, SYNC_END), pulling items only while the
 * link to the receiver has room; a stream pauses while its receiver is unreachable and ends
 * when it makes no progress for `sync_timeout`, its connection breaks or it is replaced.
 */
export class SyncReplies {
  readonly #host: ReplyStreamHost;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timers: SyncTimers;
  /** SYNC_REQs from nodes not reachable yet, answered when they come up: capability → nodes. */
  readonly #queued = new Map<string, Set<number>>();
  /** Sync replies being streamed, by `capability/dst`. */
  readonly #streams = new Map<string, SyncStream>();
  #pumpTimer: TimerHandle | undefined;
  #pumping = false;

  constructor(host: ReplyStreamHost, log: Logger, clock: Clock, timers: SyncTimers) {
    this.#host = host;
    this.#log = log;
    this.#clock = clock;
    this.#timers = timers;
  }

  /** Number of sync replies being streamed from this node. */
  get active(): number {
    return this.#streams.size;
  }

  onSyncRequest(clusterId: number, src: number, name: string): void {
    const c = this.#host.capability(name, clusterId);
    if (c === undefined) return void this.#host.count('drop_sync_req_unknown_cap');
    if (!c.enabled) return void this.#host.count('drop_sync_req_disabled');
    if (!c.ok) {
      // a stale view made us look synced: say so again instead of sending partial data
      this.#host.count('drop_sync_req_not_synced');
      this.#host.advertise(clusterId);
      return;
    }
    if (!this.#host.reachable(clusterId, src)) {
      const q = this.#queued.get(name) ?? new Set<number>();
      this.#queued.set(name, q);
      q.add(src);
      return;
    }
    this.#answer(c, src);
  }

  /** A node came up: answer the request it sent while unreachable. */
  nodeUp(c: LocalCapability, nodeId: number): void {
    const q = this.#queued.get(c.name);
    if (q?.delete(nodeId)) this.#answer(c, nodeId);
  }

  /** Streams paused while a receiver was unreachable go on. */
  resume(): void {
    if (this.#streams.size > 0) this.pump();
  }

  /** The connection to nodeId broke: packets queued for it are gone, so its streams end. */
  connectionLost(clusterId: number, nodeId: number): void {
    for (const st of [...this.#streams.values()])
      if (st.dst === nodeId && st.cap.clusterId === clusterId) this.#abort(st);
  }

  /** The capability stopped being synced (or was disabled): its replies would be partial. */
  abortAll(c: LocalCapability): void {
    for (const st of [...this.#streams.values()]) if (st.cap === c) this.#abort(st);
  }

  /** Drop streams that made no progress for `sync_timeout`, move the others on. */
  tick(now: number): void {
    for (const st of [...this.#streams.values()]) {
      if (now - st.lastProgress >= this.#timers.timeoutMs) {
        this.#host.count('sync_streams_stalled');
        this.#abort(st);
      }
    }
    if (this.#streams.size > 0) this.pump();
  }

  /**
   * Start streaming the reply to dst. With `openSync` the module's items are pulled as the
   * link drains; with `onSyncRequest` the reply is built at once (a consistent snapshot, held
   * in memory) and then streamed the same way. A new request from the same node replaces the
   * stream it had.
   */
  #answer(c: LocalCapability, dst: number): void {
    const key = streamKey(c.name, dst);
    const old = this.#streams.get(key);
    if (old !== undefined) this.#abort(old);
    const target = { clusterId: c.clusterId, nodeId: dst };
    let items: Iterator<Buffer>;
    let digest: (() => string) | undefined;
    let close: (() => void) | undefined;
    let dataVersion = c.dataVersion;
    try {
      if (c.handlers.openSync !== undefined) {
        const src = c.handlers.openSync(target);
        items = src.items;
        dataVersion = src.dataVersion ?? c.dataVersion;
        const d = src.digest?.bind(src) ?? c.handlers.digest?.bind(c.handlers);
        digest = d;
        close = src.close?.bind(src);
      } else {
        const all: Buffer[] = [];
        c.handlers.onSyncRequest?.(target, { chunk: (data: Buffer) => void all.push(data) });
        items = all.values();
        const d = c.handlers.digest?.();
        digest = d === undefined ? undefined : () => d;
      }
    } catch (e) {
      this.#host.count('sync_reply_errors');
      this.#log.error({ err: e, capability: c.name }, 'module failed to build a sync reply');
      return;
    }
    this.#streams.set(key, {
      cap: c,
      dst,
      items,
      digest,
      close,
      dataVersion,
      carry: undefined,
      total: 0,
      packets: 0,
      opened: false,
      lastProgress: this.#clock.now(),
    });
    this.#host.count('sync_streams_started');
    this.pump();
  }

  #abort(st: SyncStream): void {
    if (this.#streams.get(streamKey(st.cap.name, st.dst)) !== st) return;
    this.#streams.delete(streamKey(st.cap.name, st.dst));
    this.#host.count('sync_streams_aborted');
    try {
      st.close?.();
    } catch {
      // the module's cleanup failing changes nothing here
    }
  }

  /**
   * Move every sync stream forward while its link has room (called again by the host when a
   * link drains, and from each tick). Without link flow control, one burst per timer turn.
   */
  pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    let more = false;
    try {
      for (const st of [...this.#streams.values()]) if (this.#pumpOne(st)) more = true;
    } finally {
      this.#pumping = false;
    }
    if (more && this.#pumpTimer === undefined) {
      this.#pumpTimer = this.#clock.setTimeout(() => {
        this.#pumpTimer = undefined;
        this.pump();
      }, 0);
    }
  }

  /** Returns true when the stream stopped only for its burst budget (no flow control). */
  #pumpOne(st: SyncStream): boolean {
    const c = st.cap;
    const host = this.#host;
    const room = host.bulkRoom;
    const send = (p: RoutedPacket): boolean => {
      const r = host.sendBulk?.(c.clusterId, st.dst, p) ?? host.sendRouted(c.clusterId, st.dst, p);
      if (r === 1) return true;
      host.count('sync_send_failed');
      this.#abort(st);
      return false;
    };
    const head = syncPacketOverhead(c.name);
    const limit = this.#timers.packetSize;
    const max = 65535 - head - 8;
    const base = { cluster: c.clusterId, src: host.myNodeId, dst: st.dst, capability: c.name };
    let budget = BURST_BYTES;
    const sipedge = host.speaksSipedge(c.clusterId, st.dst);
    if (st.packets === 0 && !st.opened && sipedge) {
      if (!host.reachable(c.clusterId, st.dst)) return false;
      const start = encodeStreamStart(c.name);
      const p = sipedgeSyncPacket(
        c.clusterId,
        host.myNodeId,
        st.dst,
        SIPEDGE_SYNC_STREAM_START,
        start,
      );
      if (!send(p)) return false;
      st.opened = true;
    }
    for (;;) {
      if (this.#streams.get(streamKey(c.name, st.dst)) !== st) return false;
      // paused while unreachable; resumes on NODE_UP, ends after sync_timeout without progress
      if (!host.reachable(c.clusterId, st.dst)) return false;
      if (room !== undefined) {
        if (!room.call(host, c.clusterId, st.dst)) return false;
      } else if (budget <= 0) return true;
      const chunks: Buffer[] = [];
      let size = 0;
      let ended = false;
      for (;;) {
        let data = st.carry;
        st.carry = undefined;
        if (data === undefined) {
          let r: IteratorResult<Buffer>;
          try {
            r = st.items.next();
          } catch (e) {
            host.count('sync_reply_errors');
            this.#log.error({ err: e, capability: c.name }, 'module failed mid sync reply');
            this.#abort(st);
            return false;
          }
          if (r.done === true) {
            ended = true;
            break;
          }
          data = r.value;
        }
        if (data.length > max) {
          host.count('sync_reply_errors');
          this.#log.error({ capability: c.name, bytes: data.length }, 'sync chunk too large');
          this.#abort(st);
          return false;
        }
        const add = data.length + 8;
        if (chunks.length > 0 && head + size + add > limit) {
          st.carry = data;
          break;
        }
        chunks.push(data);
        size += add;
      }
      if (chunks.length > 0) {
        if (!send({ kind: 'sync', ...base, dataVersion: st.dataVersion, chunks })) return false;
        st.total += chunks.length;
        st.packets++;
        st.lastProgress = this.#clock.now();
        budget -= head + size;
        host.count('sync_packets_sent');
      }
      if (!ended) continue;
      this.#streams.delete(streamKey(c.name, st.dst));
      const digest = sipedge ? st.digest?.() : undefined;
      if (digest !== undefined) {
        const body = encodeSyncDigest({ capability: c.name, total: st.total, digest });
        const p = sipedgeSyncPacket(c.clusterId, host.myNodeId, st.dst, SIPEDGE_SYNC_DIGEST, body);
        if (!send(p)) return false;
      }
      if (!send({ kind: 'sync_end', ...base, chunks: st.total })) return false;
      host.count('syncs_served');
      return false;
    }
  }
}
