import { describe, expect, it } from 'vitest';
import { SYNC_CHUNK_START_MARKER } from '../bin/constants.js';
import { decodePacket, encodePacket } from '../bin/packet.js';
import { Clusterer } from '../clusterer.js';
import { VirtualClock } from '../sim/clock.js';
import { hostOf, KvCapability, SimCluster, Topologies } from '../sim/index.js';
import { encodeKv } from '../sim/kv.js';
import { SimNetwork } from '../sim/network.js';
import { SeededRandom } from '../sim/random.js';
import { CapStatus } from './capability.js';

const CAP = 'sipedge-test-kv';
const timers = { pingInterval: 1, pingTimeout: 300, nodeTimeout: 5 };

/**
 * Node 2 runs the KV capability with startup sync; node 1 runs without it, and the test
 * speaks for node 1: it advertises the capability OK, then feeds node 2 hand-made packets.
 */
function rig(): { sim: SimCluster; n2: Clusterer; kv: KvCapability; inject: (b: Buffer) => void } {
  let kv: KvCapability | undefined;
  const sim = new SimCluster({
    nodes: 2,
    edges: Topologies.fullMesh(2),
    seed: 7,
    node: { ...timers, sync: { syncTimeout: 3, seedFallbackInterval: 100 } },
    setup: (node, id) => {
      if (id === 2) kv = new KvCapability(node);
    },
  });
  sim.clock.runUntil(() => sim.node(2).getNodes(1).length === 1, 10_000);
  const n2 = sim.node(2);
  const inject = (b: Buffer): void => n2.receive(b, { host: hostOf(1), reply: () => true });
  inject(
    encodePacket({
      kind: 'cap_update',
      cluster: 1,
      src: 1,
      seq: 1000,
      timestamp: Math.floor(sim.clock.now() / 1000) + 5,
      nodes: [{ nodeId: 1, caps: [{ name: CAP, ok: true }] }],
      requireReply: false,
      path: [1],
    }),
  );
  if (kv === undefined) throw new Error('no kv');
  return { sim, n2, kv, inject };
}

const rec = (i: number): Buffer => encodeKv(`k${i}`, { value: `v${i}`, version: 1, origin: 1 });
const sync = (chunks: Buffer[]): Buffer =>
  encodePacket({
    kind: 'sync',
    cluster: 1,
    src: 1,
    dst: 2,
    capability: CAP,
    dataVersion: 1,
    chunks,
  });
const syncEnd = (n: number): Buffer =>
  encodePacket({ kind: 'sync_end', cluster: 1, src: 1, dst: 2, capability: CAP, chunks: n });

describe('sync: bad input ends in a defined state', () => {
  it('a well-formed sync from the chosen donor completes with every chunk', () => {
    const { n2, kv, inject } = rig();
    expect(n2.capabilityStatus(CAP)?.report).toBe('Sync requested from node [1]');
    inject(sync([rec(1), rec(2)]));
    expect(n2.capabilityStatus(CAP)?.status).toBe(CapStatus.IN_PROGRESS);
    inject(sync([rec(3)]));
    inject(syncEnd(3));
    expect(n2.isSynced(CAP)).toBe(true);
    expect(kv.data.size).toBe(3);
  });

  it('SYNC and SYNC_END with a wrong version are dropped; the sync then times out and retries', () => {
    const { sim, n2, inject } = rig();
    const bad = sync([rec(1)]);
    bad.writeInt16LE(2, 8);
    inject(bad);
    const badEnd = syncEnd(0);
    badEnd.writeInt16LE(2, 8);
    inject(badEnd);
    expect(n2.counters.get('drop_sync_bad_version')).toBe(2);
    expect(n2.isSynced(CAP)).toBe(false);
    const reports: string[] = [];
    n2.onCapStatus((e) => reports.push(e.report));
    sim.clock.advance(3500);
    expect(reports).toContain('Sync request to node [1] not answered');
    sim.clock.advance(1500);
    expect(reports.at(-1)).toBe('Sync requested from node [1]');
    expect(n2.isSynced(CAP)).toBe(false);
  });

  it('a broken chunk marker aborts the sync at once and a new request goes out', () => {
    const { n2, inject } = rig();
    inject(sync([rec(1)]));
    const broken = sync([rec(2)]);
    const marker = Buffer.alloc(4);
    marker.writeInt32LE(SYNC_CHUNK_START_MARKER);
    const at = broken.indexOf(marker);
    expect(at).toBeGreaterThan(0);
    expect(broken.readInt32LE(at)).toBe(SYNC_CHUNK_START_MARKER);
    broken.writeInt32LE(7, at);
    const reports: string[] = [];
    n2.onCapStatus((e) => reports.push(`${e.status} ${e.report}`));
    inject(broken);
    expect(reports[0]).toBe('-3 Broken sync packet after [1] chunks');
    expect(n2.capabilityStatus(CAP)?.status).not.toBe(CapStatus.SYNCED);
    // a chunk the module cannot parse is a broken sync too
    const { n2: m, inject: inj } = rig();
    inj(sync([Buffer.from([1, 2, 3])]));
    expect(m.counters.get('sync_bad_chunk')).toBe(1);
    expect(m.isSynced(CAP)).toBe(false);
  });

  it('a SYNC_END whose count is never reached times out as not synced, never synced', () => {
    const { sim, n2, kv, inject } = rig();
    inject(sync([rec(1), rec(2)]));
    inject(syncEnd(5));
    expect(n2.capabilityStatus(CAP)?.status).toBe(CapStatus.IN_PROGRESS);
    sim.clock.advance(3500);
    expect(n2.capabilityStatus(CAP)?.status).not.toBe(CapStatus.SYNCED);
    expect(n2.capabilityStatus(CAP)?.report).toMatch(
      /Sync timed out, received \[2\] chunks|Sync requested from node \[1\]/,
    );
    expect(kv.data.size).toBe(2);
    // more chunks than announced: rejected at once
    const { n2: m, inject: inj } = rig();
    inj(sync([rec(1), rec(2)]));
    inj(syncEnd(1));
    expect(m.isSynced(CAP)).toBe(false);
  });

  it('a digest that does not match the received data rejects the sync', () => {
    const { n2, inject } = rig();
    inject(sync([rec(1)]));
    const name = Buffer.from(CAP);
    const d = Buffer.from('1:0:0');
    const body = Buffer.alloc(2 + name.length + 6 + d.length);
    let o = body.writeUInt16LE(name.length, 0);
    o += name.copy(body, o);
    o = body.writeInt32LE(1, o);
    o = body.writeUInt16LE(d.length, o);
    d.copy(body, o);
    inject(
      encodePacket({
        kind: 'module',
        cluster: 1,
        src: 1,
        dst: 2,
        capability: 'sipedge-sync',
        version: 1,
        type: 1,
        body,
      }),
    );
    inject(syncEnd(1));
    expect(n2.counters.get('sync_digest_mismatch')).toBe(1);
    expect(n2.isSynced(CAP)).toBe(false);
  });

  it('SYNC from a node that was not asked is dropped', () => {
    const { n2, inject } = rig();
    const other = decodePacket(sync([rec(1)]));
    inject(encodePacket({ ...other, src: 1, capability: 'other-cap' } as typeof other));
    expect(n2.counters.get('drop_unexpected_sync')).toBe(1);
  });

  it('seed_fallback_interval counts from readiness (start), not from construction', () => {
    const clock = new VirtualClock();
    const net = new SimNetwork(clock, new SeededRandom(1));
    const node = new Clusterer({
      transport: net.transport('10.0.0.1'),
      clock,
      dbMode: 0,
      myNodeInfo: ['cluster_id=1,node_id=1,url=bin:10.0.0.1:5566,flags=seed'],
      neighborNodeInfo: ['cluster_id=1,node_id=2,url=bin:10.0.0.2:5566'],
      pingInterval: 1,
      pingTimeout: 300,
      sync: { seedFallbackInterval: 5 },
    });
    const kv = new KvCapability(node);
    clock.advance(20_000); // slow module initialisation before the node is ready
    expect(node.capabilityStatus(CAP)?.status).toBe(CapStatus.PENDING);
    node.start();
    clock.advance(4000);
    expect(node.isSynced(CAP)).toBe(false);
    clock.advance(1500);
    expect(node.isSynced(CAP)).toBe(true);
    expect(node.capabilityStatus(CAP)?.report).toBe(
      'ERROR: Sync request aborted! (no donor found in due time) => fallback to synced state',
    );
    expect(kv.data.size).toBe(0);
    node.destroy();
  });

  it('replication packets arriving before and during the sync are held, then replayed in order', () => {
    const { n2, kv, inject } = rig();
    const put = (key: string, version: number): Buffer =>
      encodePacket({
        kind: 'module',
        cluster: 1,
        src: 1,
        dst: 2,
        capability: CAP,
        version: 1,
        type: 1,
        body: encodeKv(key, { value: `w${version}`, version, origin: 1 }),
      });
    inject(put('k1', 5)); // before the first SYNC: would be wiped by the sync start
    inject(sync([rec(1), rec(2)]));
    inject(put('k2', 6));
    inject(put('k2', 7));
    expect(kv.data.get('k1')?.version).toBe(1);
    expect(n2.counters.get('sync_held_packets')).toBe(3);
    inject(syncEnd(2));
    expect(n2.isSynced(CAP)).toBe(true);
    expect(kv.data.get('k1')).toEqual({ value: 'w5', version: 5, origin: 1 });
    expect(kv.data.get('k2')).toEqual({ value: 'w7', version: 7, origin: 1 });
    // once synced, packets go straight to the module
    inject(put('k3', 8));
    expect(kv.data.get('k3')?.version).toBe(8);
    expect(n2.counters.get('sync_held_packets')).toBe(3);
  });
});
