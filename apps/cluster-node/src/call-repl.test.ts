import type { Clusterer } from '@sipedge/clusterer';
import { SimCluster, withSeed } from '@sipedge/clusterer/sim';
import { CallTable } from '@sipedge/rtp-cluster';
import { describe, expect, it } from 'vitest';
import { CallTableReplicator, decodeBinding, encodeBinding } from './call-repl.js';

describe('rtp-cluster-calls wire format', () => {
  it('round-trips live and deleted bindings', () => {
    const live = { callId: 'c1@host', member: 'relay1', lastSeen: 1_700_000_000_123 };
    const dead = { ...live, callId: 'c2', deletedAt: 1_700_000_000_456 };
    expect(decodeBinding(encodeBinding(live))).toEqual(live);
    expect(decodeBinding(encodeBinding(dead))).toEqual(dead);
  });

  it('refuses anything malformed instead of throwing', () => {
    const good = encodeBinding({ callId: 'c1', member: 'm', lastSeen: 5 });
    expect(decodeBinding(Buffer.alloc(0))).toBeUndefined();
    expect(decodeBinding(good.subarray(0, good.length - 1))).toBeUndefined(); // truncated
    expect(decodeBinding(Buffer.concat([good, Buffer.from([0])]))).toBeUndefined(); // trailing
    const kind = Buffer.from(good);
    kind[0] = 9;
    expect(decodeBinding(kind)).toBeUndefined();
    const len = Buffer.from(good);
    len.writeUInt16LE(60_000, 1); // string longer than the packet
    expect(decodeBinding(len)).toBeUndefined();
    expect(decodeBinding(encodeBinding({ callId: '', member: 'm', lastSeen: 1 }))).toBeUndefined();
    expect(
      decodeBinding(encodeBinding({ callId: 'c', member: 'm', lastSeen: Number.NaN })),
    ).toBeUndefined();
  });
});

describe('rtp-cluster-calls replication', () => {
  it('encodes and sends a change only while some node is reachable', () => {
    let reachable = false;
    const sent: unknown[] = [];
    const clusterer = {
      registerCapability: () => {},
      hasReachable: () => reachable,
      sendAll: (_cluster: number, p: unknown) => {
        sent.push(p);
        return 1;
      },
    } as unknown as Clusterer;
    const repl = new CallTableReplicator(clusterer, 1);
    const table = new CallTable({ onChange: repl.onChange });
    repl.attach(table);
    table.bind('alone', 'relay1');
    table.markDeleted('alone');
    expect(sent).toEqual([]);
    expect(repl.counters.sent).toBe(0);
    reachable = true;
    table.bind('seen', 'relay1');
    expect(sent).toHaveLength(1);
    expect(repl.counters.sent).toBe(1);
  });

  it('calls bound on both sides of a partition are on both nodes once it heals', () => {
    withSeed(71, (seed) => {
      const tables = new Map<number, CallTable>();
      const sim = new SimCluster({
        nodes: 2,
        edges: [[1, 2]],
        seed,
        delay: 2,
        node: {
          pingInterval: 1,
          pingTimeout: 300,
          nodeTimeout: 5,
          sync: { seedFallbackInterval: 1, antiEntropyInterval: 30 },
        },
        setup: (node: Clusterer, id: number) => {
          const repl = new CallTableReplicator(node, 1);
          const table = new CallTable({ onChange: repl.onChange });
          repl.attach(table);
          tables.set(id, table);
        },
      });
      const synced = (): boolean =>
        [1, 2].every((id) => sim.node(id).isSynced('rtp-cluster-calls'));
      expect(sim.clock.runUntil(synced, 20_000)).toBeGreaterThanOrEqual(0);
      tables.get(1)?.bind('before', 'relay1');
      sim.clock.advance(100);
      expect(tables.get(2)?.lookup('before')).toBe('relay1');
      sim.cutEdge(1, 2);
      sim.clock.advance(8000); // each sees the other down
      tables.get(1)?.bind('left', 'relay1');
      tables.get(2)?.bind('right', 'relay2');
      sim.healEdge(1, 2);
      const merged = (): boolean =>
        tables.get(1)?.lookup('right') === 'relay2' && tables.get(2)?.lookup('left') === 'relay1';
      // anti-entropy is 30 s away and has no digest to compare: only the resync can do it
      expect(sim.clock.runUntil(merged, 10_000)).toBeGreaterThanOrEqual(0);
    });
  });
});
