import { describe, expect, it } from 'vitest';
import { header, str, trailer } from '../../test/wire-reader.js';
import { encodePacket } from '../bin/packet.js';
import { hostOf, SimCluster, Topologies } from '../sim/index.js';
import { MAX_SHTAGS } from './sharing-tags.js';

const timers = { pingInterval: 1, pingTimeout: 300, nodeTimeout: 5 };

describe('sharing-tag packets on the wire (docs/protocols/bin-clusterer.md §2.2)', () => {
  it('SHTAG_ACTIVE: version 1, type 13, str tag, trailer with each destination', () => {
    const sent: Buffer[] = [];
    const sim = new SimCluster({ nodes: 3, edges: Topologies.fullMesh(3), seed: 4, node: timers });
    sim.clock.runUntil(() => sim.node(1).getNodes(1).length === 2, 10_000);
    sim.net.onDeliver = (_f, _t, b) => {
      if (b.includes(Buffer.from('clusterer-extra'))) sent.push(Buffer.from(b));
    };
    sim.node(1).shtagSetActive('vip/1');
    sim.clock.advance(50);
    expect(sent.length).toBe(2);
    for (const b of sent) {
      const h = header(b);
      expect([h.ver, h.type, h.len, b.length]).toEqual([1, 13, b.length, 12 + 15 + 4 + 5 + 12]);
      expect(str(b, h.at)[0]).toBe('vip');
    }
    expect(sent.map((b) => trailer(b)).sort()).toEqual([
      [1, 1, 2],
      [1, 1, 3],
    ]);
    expect(sim.node(2).shtagState('vip/1')).toBe('backup');
  });

  it('a flood of SHTAG_ACTIVE with bad and random names stays bounded and counted', () => {
    const sim = new SimCluster({ nodes: 2, edges: Topologies.fullMesh(2), seed: 5, node: timers });
    sim.clock.runUntil(() => sim.node(1).getNodes(1).length === 1, 10_000);
    const n1 = sim.node(1);
    n1.shtagSetActive('vip/1');
    const inject = (tag: string): void =>
      n1.receive(encodePacket({ kind: 'shtag_active', cluster: 1, src: 2, dst: 1, tag }), {
        host: hostOf(2),
        reply: () => true,
      });
    for (const bad of ['', 'a b', 'x/1', 'é', 'a'.repeat(65)]) inject(bad);
    expect(n1.counters.get('drop_bad_shtag_name')).toBe(5);
    expect(n1.shtagState('vip/1')).toBe('active');
    for (let i = 0; i < 5000; i++) inject(`t${i}`);
    expect(n1.shtags.list().length).toBe(MAX_SHTAGS);
    expect(n1.counters.get('drop_shtag_limit')).toBeGreaterThan(0);
    for (let i = 0; i < 1000; i++) inject('vip');
    expect(n1.shtagState('vip/1')).toBe('backup');
    expect(() => n1.shtagSetActive('vip')).toThrow(/bad sharing tag/);
    expect(() => n1.shtagSetActive('vip/2')).toThrow();
  });
});
