import { fnv1aPair } from '@sipedge/core';
import type { Clusterer } from '../clusterer.js';

/** One record of the test key-value capability: last writer wins by (version, origin). */
export interface KvRecord {
  value: string;
  version: number;
  origin: number;
}

const KV_PUT = 1;

function recordHash(key: string, r: KvRecord): [number, number] {
  const s = `${key}\u0000${r.value}\u0000${r.version}\u0000${r.origin}`;
  return fnv1aPair(s);
}

/** Encode a record as a sync chunk or replication body. */
export function encodeKv(key: string, r: KvRecord): Buffer {
  const k = Buffer.from(key);
  const v = Buffer.from(r.value);
  const b = Buffer.allocUnsafe(2 + k.length + 2 + v.length + 8);
  let o = b.writeUInt16LE(k.length, 0);
  o += k.copy(b, o);
  o = b.writeUInt16LE(v.length, o);
  o += v.copy(b, o);
  o = b.writeInt32LE(r.version, o);
  b.writeInt32LE(r.origin, o);
  return b;
}

/** Decode a record; throws RangeError on a malformed one. */
export function decodeKv(b: Buffer): { key: string; record: KvRecord } {
  let o = 0;
  const kl = b.readUInt16LE(o);
  o += 2;
  if (o + kl > b.length) throw new RangeError('kv key');
  const key = b.toString('utf8', o, o + kl);
  o += kl;
  const vl = b.readUInt16LE(o);
  o += 2;
  if (o + vl + 8 !== b.length) throw new RangeError('kv value');
  const value = b.toString('utf8', o, o + vl);
  o += vl;
  return { key, record: { value, version: b.readInt32LE(o), origin: b.readInt32LE(o + 4) } };
}

/**
 * A replicated key-value store used as a test capability (simulator suites, benchmarks): puts
 * are replicated to every node, a full sync carries every record, and the digest is an
 * order-independent sum of per-record hashes kept up to date on every change (O(1) to read).
 */
export class KvCapability {
  readonly data = new Map<string, KvRecord>();
  #h1 = 0;
  #h2 = 0;
  #clockV = 0;
  applied = 0;

  constructor(
    readonly node: Clusterer,
    readonly name = 'sipedge-test-kv',
    options: {
      mode?: 'replace' | 'merge';
      resyncOnNodeUp?: boolean;
      /** The data version its sync replies carry, and those it reads (default 1, [1]). */
      dataVersion?: number;
      readsDataVersions?: readonly number[];
    } = {},
  ) {
    node.registerCapability(
      name,
      {
        onPacket: (p) => {
          if (p.type !== KV_PUT) return;
          const { key, record } = decodeKv(p.body);
          this.apply(key, record);
        },
        // streamed: each record is encoded when the link has room, as it is at that moment;
        // the digest covers exactly the records handed out (Map iteration visits each key once)
        openSync: () => {
          const it = this.data.entries();
          let n = 0;
          let s1 = 0;
          let s2 = 0;
          return {
            items: {
              next: (): IteratorResult<Buffer> => {
                const e = it.next();
                if (e.done === true) return { done: true, value: undefined };
                const [k, r] = e.value;
                const [a, b] = recordHash(k, r);
                s1 = (s1 + a) >>> 0;
                s2 = (s2 + b) >>> 0;
                n++;
                return { done: false, value: encodeKv(k, r) };
              },
            },
            digest: () => `${n}:${s1.toString(16)}:${s2.toString(16)}`,
          };
        },
        onSyncStart: () => {
          if (options.mode !== 'merge') this.clear();
        },
        onSyncChunk: (chunk) => {
          const { key, record } = decodeKv(chunk);
          this.apply(key, record);
        },
        digest: () => this.digest(),
        stamp: () => this.#clockV,
      },
      {
        startupSync: true,
        syncMode: options.mode ?? 'replace',
        // after a partition heals, merge the other side's data (dialog's cluster_auto_sync)
        resyncOnNodeUp: options.resyncOnNodeUp === true,
        ...(options.dataVersion === undefined ? {} : { dataVersion: options.dataVersion }),
        ...(options.readsDataVersions === undefined
          ? {}
          : { readsDataVersions: options.readsDataVersions }),
      },
    );
  }

  clear(): void {
    this.data.clear();
    this.#h1 = 0;
    this.#h2 = 0;
  }

  /** Apply a record if it is newer (last writer wins by version, then origin). */
  apply(key: string, r: KvRecord): void {
    this.applied++;
    if (r.version > this.#clockV) this.#clockV = r.version;
    const old = this.data.get(key);
    if (old !== undefined) {
      if (old.version > r.version || (old.version === r.version && old.origin >= r.origin)) return;
      const [a, b] = recordHash(key, old);
      this.#h1 = (this.#h1 - a) >>> 0;
      this.#h2 = (this.#h2 - b) >>> 0;
    }
    this.data.set(key, r);
    const [a, b] = recordHash(key, r);
    this.#h1 = (this.#h1 + a) >>> 0;
    this.#h2 = (this.#h2 + b) >>> 0;
  }

  /** A local write, replicated to every node. */
  put(key: string, value: string): void {
    const r: KvRecord = { value, version: ++this.#clockV, origin: this.node.myNodeId };
    this.apply(key, r);
    const cl = this.node.capabilityStatus(this.name)?.clusterId ?? 1;
    this.node.sendAll(cl, {
      capability: this.name,
      version: 1,
      type: KV_PUT,
      body: encodeKv(key, r),
    });
  }

  /** Load records without replicating them (a donor's initial dataset). */
  load(n: number, prefix = 'k'): void {
    for (let i = 0; i < n; i++)
      this.apply(`${prefix}${i}`, { value: `v${i}`, version: 1, origin: this.node.myNodeId });
  }

  digest(): string {
    return `${this.data.size}:${this.#h1.toString(16)}:${this.#h2.toString(16)}`;
  }
}
