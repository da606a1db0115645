import { describe, expect, it } from 'vitest';
import { header, str, trailer } from '../../test/wire-reader.js';
import { hostOf, KvCapability, SimCluster, Topologies } from '../sim/index.js';
import { encodeKv } from '../sim/kv.js';
import {
  decodeCompare,
  decodeStreamStart,
  decodeSyncDigest,
  encodeCompare,
  encodeStreamStart,
  encodeSyncDigest,
} from './wire.js';

const CAP = 'sipedge-test-kv';
const timers = { pingInterval: 1, pingTimeout: 300, nodeTimeout: 5 };

describe('sync packets on the wire (docs/protocols/bin-clusterer.md §2.2, §6.4)', () => {
  it('SYNC_REQ, SYNC (chunk markers), SYNC_END (count) and CAP_UPDATE state bits', () => {
    const sent: { from: string; to: string; b: Buffer }[] = [];
    const kv = new Map<number, KvCapability>();
    const sim = new SimCluster({
      nodes: 2,
      edges: Topologies.fullMesh(2),
      seed: 3,
      node: { ...timers, sync: { seedFallbackInterval: 1, syncPacketSize: 200 } },
      setup: (n, id) => kv.set(id, new KvCapability(n)),
    });
    sim.crash(2);
    sim.clock.runUntil(() => sim.node(1).isSynced(CAP), 10_000);
    kv.get(1)?.load(10);
    sim.net.onDeliver = (from, to, b) => {
      if (b.includes(Buffer.from('clusterer-extra')) || b.includes(Buffer.from('internal')))
        sent.push({ from, to, b: Buffer.from(b) });
    };
    sim.restart(2, 0);
    expect(
      sim.clock.runUntil(() => sim.nodes.get(2)?.isSynced(CAP) === true, 10_000),
    ).toBeGreaterThan(0);
    const extra = sent.filter((s) => header(s.b).cap === 'clusterer-extra');
    const req = extra.find((s) => header(s.b).type === 10);
    if (req === undefined) throw new Error('no SYNC_REQ');
    const h = header(req.b);
    expect([h.ver, h.len, req.b.length]).toEqual([
      3,
      req.b.length,
      12 + 15 + 4 + 2 + CAP.length + 12,
    ]);
    expect(str(req.b, h.at)).toEqual([CAP, h.at + 2 + CAP.length]);
    expect(trailer(req.b)).toEqual([1, 2, 1]);
    const syncs = extra.filter((s) => header(s.b).type === 11);
    expect(syncs.length).toBeGreaterThan(1); // 200-byte packets: the dataset is cut
    const chunks: Buffer[] = [];
    for (const s of syncs) {
      const sh = header(s.b);
      expect(sh.ver).toBe(3);
      expect(s.b.length).toBeLessThanOrEqual(200 + 40);
      let [cap, at] = str(s.b, sh.at);
      expect(cap).toBe(CAP);
      expect(s.b.readInt32LE(at)).toBe(1); // data_version
      at += 4;
      while (at < s.b.length - 12) {
        const len = s.b.readInt32LE(at);
        expect(s.b.readInt32LE(at + 4)).toBe(101010101);
        chunks.push(s.b.subarray(at + 8, at + 8 + len));
        at += 8 + len;
      }
      expect(at).toBe(s.b.length - 12);
      expect(trailer(s.b)).toEqual([1, 1, 2]);
    }
    expect(chunks.length).toBe(10);
    expect(
      chunks.some((c) => c.equals(encodeKv('k3', { value: 'v3', version: 1, origin: 1 }))),
    ).toBe(true);
    const end = extra.find((s) => header(s.b).type === 12);
    if (end === undefined) throw new Error('no SYNC_END');
    const eh = header(end.b);
    const [, at] = str(end.b, eh.at);
    expect([eh.ver, end.b.readInt32LE(at), at + 4 + 12]).toEqual([3, 10, end.b.length]);
    // CAP_UPDATE from node 2 once synced: internal header, own entry with state 1
    const caps = sent.filter(
      (s) =>
        s.from === hostOf(2) && header(s.b).cap === 'clusterer-internal' && header(s.b).type === 9,
    );
    const last = caps.at(-1);
    if (last === undefined) throw new Error('no CAP_UPDATE');
    const ch = header(last.b);
    expect(last.b.readInt32LE(ch.at)).toBe(1); // cluster
    expect(last.b.readInt32LE(ch.at + 4)).toBe(2); // src
    const nodes = last.b.readInt32LE(ch.at + 16);
    expect(nodes).toBe(1);
    expect(last.b.readInt32LE(ch.at + 20)).toBe(2); // node id
    expect(last.b.readInt32LE(ch.at + 24)).toBe(2); // the capability and sipedge's mark
    const [name, p] = str(last.b, ch.at + 28);
    expect([name, last.b.readInt32LE(p)]).toEqual([CAP, 1]);
    const [mark, q] = str(last.b, p + 4);
    expect([mark, last.b.readInt32LE(q)]).toEqual(['sipedge-sync', 1]);
    // the first CAP_UPDATE node 2 sent said "not synced"
    const first = caps[0];
    if (first === undefined) throw new Error('no CAP_UPDATE');
    const [, p0] = str(first.b, header(first.b).at + 28);
    expect(first.b.readInt32LE(p0)).toBe(0);
  });
});

describe('sipedge-sync bodies', () => {
  it('round-trip, with the byte layouts a sipedge donor sends', () => {
    const start = encodeStreamStart('kv');
    expect(start.toString('hex')).toBe('02006b76');
    expect(decodeStreamStart(start)).toBe('kv');
    const digest = encodeSyncDigest({ capability: 'kv', total: 7, digest: 'ab' });
    expect(digest.toString('hex')).toBe('02006b760700000002006162');
    expect(decodeSyncDigest(digest)).toEqual({ capability: 'kv', total: 7, digest: 'ab' });
    const compare = encodeCompare({ capability: 'kv', digest: 'ab', reply: true });
    expect(compare.toString('hex')).toBe('02006b760200616201000000');
    expect(decodeCompare(compare)).toEqual({ capability: 'kv', digest: 'ab', reply: true });
  });

  it('a body one byte short throws a RangeError', () => {
    const cut = (b: Buffer): Buffer => b.subarray(0, b.length - 1);
    expect(() => decodeStreamStart(cut(encodeStreamStart('kv')))).toThrow(RangeError);
    const digest = encodeSyncDigest({ capability: 'kv', total: 1, digest: 'ab' });
    expect(() => decodeSyncDigest(cut(digest))).toThrow(RangeError);
    const compare = encodeCompare({ capability: 'kv', digest: 'ab', reply: false });
    expect(() => decodeCompare(cut(compare))).toThrow(RangeError);
  });
});
