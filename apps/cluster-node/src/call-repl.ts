/**
 * Replicates the embedded rtp-cluster's call-id → relay table over the clusterer (capability
 * `rtp-cluster-calls`, sipedge's own), so the node that takes over a service address sends the
 * later commands of a call (re-INVITE, BYE → D) to the relay that already holds its sessions.
 *
 * Every local bind and delete is sent to every node; a joining node merges a full snapshot at
 * startup (merge mode: a binding is replaced only by a newer one, by `lastSeen`). Times are wall
 * clock milliseconds, so nodes compare them. Expiry is local (each node ages its own table).
 *
 * Wire (little-endian): `u8 kind` (1 bind, 2 delete), `str callId`, `str member`,
 * `f64 lastSeen`, `f64 deletedAt` (NaN for a live binding); `str` = u16 length + UTF-8.
 */
import type { Clusterer, ModulePacket } from '@sipedge/clusterer';
import type { CallBinding, CallTable, CallTableChange } from '@sipedge/rtp-cluster';

export const CALLS_CAP = 'rtp-cluster-calls';
const VERSION = 1;
const MAX_STR = 1024;

export interface CallReplCounters {
  sent: number;
  received: number;
  dropped: number;
  syncItems: number;
}

export function encodeBinding(b: CallBinding): Buffer {
  const id = Buffer.from(b.callId);
  const m = Buffer.from(b.member);
  const buf = Buffer.alloc(1 + 2 + id.length + 2 + m.length + 16);
  let o = buf.writeUInt8(b.deletedAt === undefined ? 1 : 2, 0);
  o = buf.writeUInt16LE(id.length, o);
  o += id.copy(buf, o);
  o = buf.writeUInt16LE(m.length, o);
  o += m.copy(buf, o);
  o = buf.writeDoubleLE(b.lastSeen, o);
  buf.writeDoubleLE(b.deletedAt ?? Number.NaN, o);
  return buf;
}

/** Decodes one binding; undefined for anything malformed. */
export function decodeBinding(buf: Buffer): CallBinding | undefined {
  try {
    let o = 0;
    const kind = buf.readUInt8(o++);
    if (kind !== 1 && kind !== 2) return undefined;
    const str = () => {
      const n = buf.readUInt16LE(o);
      o += 2;
      if (n > MAX_STR || o + n > buf.length) throw new RangeError('string');
      const s = buf.toString('utf8', o, o + n);
      o += n;
      return s;
    };
    const callId = str();
    const member = str();
    const lastSeen = buf.readDoubleLE(o);
    const deletedAt = buf.readDoubleLE(o + 8);
    if (o + 16 !== buf.length || callId === '' || member === '' || !Number.isFinite(lastSeen))
      return undefined;
    if (kind === 2 && !Number.isFinite(deletedAt)) return undefined;
    return kind === 1 ? { callId, member, lastSeen } : { callId, member, lastSeen, deletedAt };
  } catch {
    return undefined;
  }
}

export class CallTableReplicator {
  readonly counters: CallReplCounters = { sent: 0, received: 0, dropped: 0, syncItems: 0 };
  readonly #clusterer: Clusterer;
  readonly #clusterId: number;
  #table: CallTable | undefined;
  #applying = false;

  constructor(clusterer: Clusterer, clusterId: number) {
    this.#clusterer = clusterer;
    this.#clusterId = clusterId;
    clusterer.registerCapability(
      CALLS_CAP,
      {
        onPacket: (p) => this.#onPacket(p),
        // streamed: bindings are encoded as the link drains, behind pings and replication
        openSync: () => ({ items: this.#syncItems() }),
        onSyncChunk: (chunk) => {
          const b = decodeBinding(chunk);
          if (b === undefined) {
            this.counters.dropped++;
            return;
          }
          this.counters.syncItems++;
          this.#apply(b);
        },
      },
      {
        clusterId,
        startupSync: true,
        syncMode: 'merge',
        // no digest, so no anti-entropy: after a partition heals, merge the other side's
        // bindings at once (calls set up on either side meanwhile)
        resyncOnNodeUp: true,
        dataVersion: VERSION,
      },
    );
  }

  *#syncItems(): Generator<Buffer> {
    for (const b of this.#table?.snapshot() ?? []) yield encodeBinding(b);
  }

  /** The table to replicate (rtp-cluster makes it through `callTableFor`). */
  attach(table: CallTable): void {
    this.#table = table;
  }

  /**
   * CallTable `onChange`: local binds and deletes go to every node. With no node reachable
   * nothing is encoded (this runs for every new and deleted call of the balancer; a node that
   * comes later merges a full snapshot).
   */
  onChange = (change: CallTableChange): void => {
    if (this.#applying || change.type === 'expire') return;
    if (!this.#clusterer.hasReachable(this.#clusterId)) return;
    const now = Date.now();
    const b: CallBinding =
      change.type === 'bind'
        ? change.binding
        : { callId: change.callId, member: change.member, lastSeen: now, deletedAt: now };
    const r = this.#clusterer.sendAll(this.#clusterId, {
      capability: CALLS_CAP,
      version: VERSION,
      type: b.deletedAt === undefined ? 1 : 2,
      body: encodeBinding(b),
    });
    if (r === 1) this.counters.sent++;
  };

  #onPacket(p: ModulePacket): void {
    if (p.version !== VERSION) {
      this.counters.dropped++;
      return;
    }
    const b = decodeBinding(p.body);
    if (b === undefined) {
      this.counters.dropped++;
      return;
    }
    this.counters.received++;
    this.#apply(b);
  }

  #apply(b: CallBinding): void {
    if (this.#table === undefined) return;
    this.#applying = true;
    try {
      this.#table.restore([b]);
    } finally {
      this.#applying = false;
    }
  }
}
