import Database from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodePacket } from './bin/packet.js';
import { Clusterer } from './clusterer.js';
import { SendResult } from './messaging/router.js';
import { LinkState } from './nodes/remote-node.js';
import { CLUSTERER_TABLE_SQL, SqliteNodeStore } from './nodes/store.js';
import { VirtualClock } from './sim/clock.js';
import { SimNetwork } from './sim/network.js';
import { SeededRandom } from './sim/random.js';

const timers = { pingInterval: 1, pingTimeout: 300, nodeTimeout: 5 };

function world(seed = 1): { clock: VirtualClock; net: SimNetwork } {
  const clock = new VirtualClock();
  return { clock, net: new SimNetwork(clock, new SeededRandom(seed)) };
}

function scriptNode(
  net: SimNetwork,
  clock: VirtualClock,
  id: number,
  neighbours: number[],
  extra: Partial<ConstructorParameters<typeof Clusterer>[0]> = {},
): Clusterer {
  const n = new Clusterer({
    transport: net.transport(`10.0.0.${id}`),
    clock,
    dbMode: 0,
    myNodeInfo: [`cluster_id=1,node_id=${id},url=bin:10.0.0.${id}:5566`],
    neighborNodeInfo: neighbours.map(
      (nb) => `cluster_id=1,node_id=${nb},url=bin:10.0.0.${nb}:5566`,
    ),
    ...timers,
    ...extra,
  });
  n.start();
  return n;
}

const reachable = (n: Clusterer): number[] =>
  n
    .getNodes(1)
    .map((x) => x.nodeId)
    .sort((a, b) => a - b);

describe('db_mode=0 discovery', () => {
  it('three nodes that each know one neighbour discover the whole cluster', () => {
    const { clock, net } = world();
    const a = scriptNode(net, clock, 1, []);
    const b = scriptNode(net, clock, 2, [1]);
    const c = scriptNode(net, clock, 3, [2]);
    const t = clock.runUntil(
      () =>
        reachable(a).join() === '2,3' &&
        reachable(b).join() === '1,3' &&
        reachable(c).join() === '1,2',
      20_000,
    );
    expect(t).toBeGreaterThan(0);
    expect(a.counters.get('unknown_id_sent') ?? 0).toBeGreaterThan(0);
    // the links themselves come up too (the full mesh is physically possible here)
    clock.advance(5000);
    for (const n of [a, b, c])
      for (const r of n.clusters.get(1)?.nodes.values() ?? []) expect(r.link).toBe(LinkState.UP);
  });

  it('clusterer_remove_node is propagated and the target disables itself', () => {
    const { clock, net } = world();
    const a = scriptNode(net, clock, 1, [2, 3]);
    const b = scriptNode(net, clock, 2, [1, 3]);
    const c = scriptNode(net, clock, 3, [1, 2]);
    clock.runUntil(
      () => reachable(a).length === 2 && reachable(b).length === 2 && reachable(c).length === 2,
      10_000,
    );
    a.removeNode(1, 3);
    clock.advance(100);
    expect(a.clusters.get(1)?.nodes.has(3)).toBe(false);
    expect(b.clusters.get(1)?.nodes.has(3)).toBe(false);
    expect(c.clusters.get(1)?.enabled).toBe(false);
    expect(reachable(c)).toEqual([]);
  });
});

describe('db_mode=1 from a SQLite clusterer table', () => {
  it('loads only the clusters of my node, and only listed nodes are accepted', () => {
    const db = new Database(':memory:');
    db.exec(CLUSTERER_TABLE_SQL);
    const ins = db.prepare(
      'INSERT INTO clusterer (cluster_id, node_id, url, flags) VALUES (?, ?, ?, ?)',
    );
    ins.run(1, 1, 'bin:10.0.0.1:5566', 'seed');
    ins.run(1, 2, 'bin:10.0.0.2:5566', null);
    ins.run(7, 9, 'bin:10.0.0.9:5566', null);
    ins.run(1, 4, 'bogus:url', null);
    const store = new SqliteNodeStore(db);
    const rows = store.load(1);
    expect(rows.map((r) => [r.clusterId, r.nodeId, r.priority, r.seed])).toEqual([
      [1, 1, 50, true],
      [1, 2, 50, false],
    ]);
    const { clock, net } = world();
    const mk = (id: number): Clusterer => {
      const n = new Clusterer({
        transport: net.transport(`10.0.0.${id}`),
        clock,
        dbMode: 1,
        myNodeId: id,
        store,
        ...timers,
      });
      n.start();
      return n;
    };
    const a = mk(1);
    const b = mk(2);
    const stranger = scriptNode(net, clock, 3, [1]);
    clock.runUntil(() => reachable(a).join() === '2' && reachable(b).join() === '1', 10_000);
    clock.advance(3000);
    expect(reachable(a)).toEqual([2]);
    expect(reachable(stranger)).toEqual([]);
    expect(a.counters.get('drop_unknown_node') ?? 0).toBeGreaterThan(0);
    a.setState(1, false, 2);
    expect(db.prepare('SELECT state FROM clusterer WHERE node_id = 2').get()).toEqual({ state: 0 });
    ins.run(1, 3, 'bin:10.0.0.3:5566', null);
    a.reload();
    expect([...(a.clusters.get(1)?.nodes.keys() ?? [])].sort()).toEqual([2, 3]);
  });
});

describe('module API over a line 1-2-3 (rerouting through 2)', () => {
  function line(rerouting = true): { clock: VirtualClock; net: SimNetwork; n: Clusterer[] } {
    const { clock, net } = world();
    net.cut('10.0.0.1', '10.0.0.3');
    const n = [1, 2, 3].map((id) =>
      scriptNode(
        net,
        clock,
        id,
        [1, 2, 3].filter((x) => x !== id),
        { enableRerouting: rerouting },
      ),
    );
    clock.runUntil(
      () => n.every((x) => reachable(x).length === (rerouting ? 2 : x.myNodeId === 2 ? 2 : 1)),
      20_000,
    );
    return { clock, net, n };
  }

  it('routes a module packet through the middle node and delivers it once', () => {
    const { clock, n } = line();
    const [a, b, c] = n as [Clusterer, Clusterer, Clusterer];
    expect(a.getNextHop(1, 3)).toBe(2);
    const got: string[] = [];
    c.registerCapability('test-repl', {
      onPacket: (p) => got.push(`${p.srcId}:${p.type}:${p.body.toString()}`),
    });
    b.registerCapability('test-repl', { onPacket: () => got.push('wrong node') });
    expect(
      a.sendTo(1, 3, { capability: 'test-repl', version: 1, type: 7, body: Buffer.from('hi') }),
    ).toBe(SendResult.SENT);
    clock.advance(50);
    expect(got).toEqual(['1:7:hi']);
    expect(b.counters.get('forwarded')).toBe(1);
  });

  it('sendAll is N unicasts; unreachable and disabled results use the OpenSIPS codes', () => {
    const { clock, n } = line();
    const [a, b, c] = n as [Clusterer, Clusterer, Clusterer];
    const got: number[] = [];
    for (const x of [b, c]) x.registerCapability('cap', { onPacket: () => got.push(x.myNodeId) });
    expect(a.sendAll(1, { capability: 'cap', version: 1, type: 1, body: Buffer.alloc(0) })).toBe(
      SendResult.SENT,
    );
    clock.advance(50);
    expect(got.sort()).toEqual([2, 3]);
    expect(a.sendTo(1, 99, { capability: 'cap', version: 1, type: 1, body: Buffer.alloc(0) })).toBe(
      SendResult.UNREACHABLE,
    );
    a.setState(1, false);
    expect(a.sendTo(1, 2, { capability: 'cap', version: 1, type: 1, body: Buffer.alloc(0) })).toBe(
      SendResult.LOCAL_DISABLED,
    );
  });

  it('with enable_rerouting=0 only direct links are used', () => {
    const { n } = line(false);
    const [a] = n as [Clusterer];
    expect(a.getNextHop(1, 3)).toBeUndefined();
    expect(a.sendTo(1, 3, { capability: 'x', version: 1, type: 1, body: Buffer.alloc(0) })).toBe(
      SendResult.UNREACHABLE,
    );
  });

  it('generic request and reply carry the tag back', () => {
    const { clock, n } = line();
    const [a, , c] = n as [Clusterer, Clusterer, Clusterer];
    const seen: string[] = [];
    c.on('request', (e) => {
      seen.push(`req ${e.srcId} ${e.msg}`);
      c.sendReply(e.clusterId, e.srcId, e.tag, `pong:${e.msg}`);
    });
    a.on('reply', (e) => seen.push(`rpl ${e.srcId} ${e.msg} ${e.tag}`));
    const { result, tag } = a.sendRequest(1, 3, 'ping?');
    expect(result).toBe(SendResult.SENT);
    expect(tag).toMatch(/^1-1-[A-Za-y1-6]{24}$/);
    clock.advance(50);
    expect(seen).toEqual(['req 1 ping?', `rpl 3 pong:ping? ${tag}`]);
  });
});

describe('bad input to a running node', () => {
  it('refuses packets from unknown addresses (auth_check) and counts them', () => {
    const { clock, net } = world();
    const a = scriptNode(net, clock, 1, [2]);
    const b = scriptNode(net, clock, 2, [1]);
    clock.runUntil(() => reachable(a).length === 1, 5000);
    const pkt = encodePacket({
      kind: 'generic_msg',
      cluster: 1,
      src: 2,
      dst: 1,
      request: true,
      tag: 't',
      msg: 'm',
    });
    let events = 0;
    a.on('request', () => events++);
    a.receive(pkt, { host: '192.0.2.66', reply: () => true });
    expect(events).toBe(0);
    expect(a.counters.get('refused_wrong_address')).toBe(1);
    a.receive(pkt, { host: '10.0.0.2', reply: () => true });
    expect(events).toBe(1);
    expect(b.myNodeId).toBe(2);
  });

  it('drops self-loops, absurd timestamps and unknown neighbours without changing the topology', () => {
    const { clock, net } = world();
    const a = scriptNode(net, clock, 1, [2]);
    scriptNode(net, clock, 2, [1]);
    clock.runUntil(() => reachable(a).length === 1, 5000);
    const src = { host: '10.0.0.2', reply: () => true };
    const ls = (neighbour: number, timestamp: number): Buffer =>
      encodePacket({
        kind: 'ls_update',
        cluster: 1,
        src: 2,
        seq: 5,
        timestamp,
        neighbour,
        up: true,
        path: [2],
      });
    const now = Math.floor(clock.now() / 1000);
    a.receive(ls(2, now), src);
    a.receive(ls(42, now), src);
    a.receive(ls(1, now + 10_000_000), src);
    expect(a.counters.get('drop_self_loop')).toBe(1);
    expect(a.counters.get('drop_unknown_neighbour')).toBe(1);
    expect(a.counters.get('drop_absurd_timestamp')).toBe(1);
    expect(reachable(a)).toEqual([2]);
  });

  it('a node description must come from the host it names or through a known node', () => {
    const { clock, net } = world();
    const a = scriptNode(net, clock, 1, [2, 3]);
    scriptNode(net, clock, 2, [1, 3]);
    scriptNode(net, clock, 3, [1, 2]);
    clock.runUntil(() => reachable(a).length === 2, 10_000);
    a.receive(encodePacket({ kind: 'remove_node', cluster: 1, src: 2, dst: 1, target: 3 }), {
      host: '10.0.0.2',
      reply: () => true,
    });
    expect(reachable(a)).toEqual([2]);
    const describe3 = (url: string, path: number[]): Buffer =>
      encodePacket({
        kind: 'node_description',
        cluster: 1,
        src: 3,
        description: { url, sipAddr: '', priority: 0, noPingRetries: 3 },
        path,
      });
    // node 3 itself, but naming a host the packet did not come from
    a.receive(describe3('bin:192.0.2.9:5566', [3]), { host: '10.0.0.3', reply: () => true });
    // "forwarded" by node 2 from an address that is not node 2's
    a.receive(describe3('bin:192.0.2.9:5566', [3, 2]), { host: '10.0.0.3', reply: () => true });
    // forwarded through a hop this node does not know
    a.receive(describe3('bin:192.0.2.9:5566', [3, 42]), { host: '10.0.0.2', reply: () => true });
    expect(a.counters.get('drop_unvouched_description')).toBe(3);
    expect(a.clusters.get(1)?.nodes.has(3)).toBe(false);
    // node 3 pings, is told its id is unknown, describes itself from its own host: back in
    clock.advance(5000);
    expect(reachable(a)).toEqual([2, 3]);
    expect(a.getNodes(1).find((n) => n.nodeId === 3)?.url).toBe('bin:10.0.0.3:5566');
  });

  it('a FULL_TOP_UPDATE neighbour described by a later entry of the same packet is kept', () => {
    // seen with OpenSIPS 3.6: node 1 lists [3, 2] in its own entry and describes node 2 in
    // the next; the neighbour 2 was dropped, leaving node 1 with neighbours [3] for minutes
    const { clock, net } = world();
    const a = scriptNode(net, clock, 3, [1]);
    scriptNode(net, clock, 1, [3]);
    clock.runUntil(() => reachable(a).length === 1, 5000);
    const now = Math.floor(clock.now() / 1000);
    a.receive(
      encodePacket({
        kind: 'full_top_update',
        cluster: 1,
        src: 1,
        seq: 1000,
        timestamp: now,
        nodes: [
          { nodeId: 1, lsSeq: 1000, lsTimestamp: now, neighbours: [3, 2] },
          {
            nodeId: 2,
            description: { url: 'bin:10.0.0.2:5566', sipAddr: '', priority: 50, noPingRetries: 3 },
            lsSeq: 7,
            lsTimestamp: now,
            neighbours: [1],
          },
        ],
        path: [1],
      }),
      { host: '10.0.0.1', reply: () => true },
    );
    expect(a.clusters.get(1)?.nodes.get(1)?.neighbours.has(2)).toBe(true);
    expect(a.getNextHop(1, 2)).toBe(1);
  });

  it('a node description forwarded by a known node from its own host is taken', () => {
    const { clock, net } = world();
    const a = scriptNode(net, clock, 1, [2]);
    scriptNode(net, clock, 2, [1]);
    clock.runUntil(() => reachable(a).length === 1, 5000);
    a.receive(
      encodePacket({
        kind: 'node_description',
        cluster: 1,
        src: 4,
        description: { url: 'bin:10.0.0.4:5566', sipAddr: '', priority: 0, noPingRetries: 3 },
        path: [4, 2],
      }),
      { host: '10.0.0.2', reply: () => true },
    );
    expect(a.counters.get('drop_unvouched_description')).toBeUndefined();
    expect(a.clusters.get(1)?.nodes.get(4)?.url).toBe('bin:10.0.0.4:5566');
  });

  it('random packets from a known address never crash a node, and it keeps its links', () => {
    const { clock, net } = world();
    const a = scriptNode(net, clock, 1, [2]);
    scriptNode(net, clock, 2, [1]);
    clock.runUntil(() => reachable(a).length === 1, 5000);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, fix) => {
        const b = Buffer.from(bytes);
        if (fix && b.length >= 30) {
          encodePacket({ kind: 'ping', cluster: 1, src: 2, reqNodeList: false }).copy(b, 0, 0, 30);
          b.writeUInt32LE(b.length, 4);
        }
        a.receive(b, { host: '10.0.0.2', reply: () => true });
      }),
      { numRuns: 2000 },
    );
    clock.advance(5000);
    expect(reachable(a)).toEqual([2]);
  });
});

describe('random well-formed packets to a node', () => {
  it('never throw, and the node still converges afterwards', async () => {
    const { arbPacket } = await import('./bin/packet.test.arb.js');
    const { clock, net } = world(9);
    const a = scriptNode(net, clock, 1, [2, 3]);
    scriptNode(net, clock, 2, [1, 3]);
    scriptNode(net, clock, 3, [1, 2]);
    clock.runUntil(() => reachable(a).length === 2, 10_000);
    // a REMOVE_NODE naming this node, from a neighbour, makes it disable itself
    // (docs/protocols/bin-clusterer.md §5.1): that is the one packet allowed to take it out, and
    // only until it is enabled again
    let disabledBy: unknown;
    fc.assert(
      fc.property(
        arbPacket,
        fc.constantFrom(1, 2, 3),
        fc.constantFrom(1, 2, 7),
        (p, src, cluster) => {
          const q = { ...p, src, cluster } as typeof p;
          a.receive(encodePacket(q), { host: `10.0.0.${src}`, reply: () => true });
          if (disabledBy === undefined && a.clusters.get(1)?.enabled === false) {
            disabledBy = q;
            expect(q).toMatchObject({ kind: 'remove_node', cluster: 1, dst: 1, target: 1 });
          }
        },
      ),
      { numRuns: 1500 },
    );
    if (disabledBy !== undefined) a.setState(1, true);
    clock.advance(30_000);
    expect(reachable(a)).toEqual([2, 3]);
  });

  it('a REMOVE_NODE naming the node itself disables it until it is enabled again (seed 1062)', () => {
    const { clock, net } = world(9);
    const a = scriptNode(net, clock, 1, [2, 3]);
    scriptNode(net, clock, 2, [1, 3]);
    scriptNode(net, clock, 3, [1, 2]);
    clock.runUntil(() => reachable(a).length === 2, 10_000);
    a.receive(encodePacket({ kind: 'remove_node', cluster: 1, src: 2, dst: 1, target: 1 }), {
      host: '10.0.0.2',
      reply: () => true,
    });
    expect(a.clusters.get(1)?.enabled).toBe(false);
    clock.advance(30_000);
    expect(reachable(a)).toEqual([]);
    a.setState(1, true);
    clock.advance(30_000);
    expect(reachable(a)).toEqual([2, 3]);
  });
});

describe('one process in several clusters', () => {
  it('keeps three clusters apart and raises events with the right cluster id', () => {
    const { clock, net } = world(4);
    // node 1 is in clusters 1, 2 and 3; node 2 in 1 and 3; node 3 in 2 and 3
    const infos: Record<number, number[]> = { 1: [1, 2, 3], 2: [1, 3], 3: [2, 3] };
    const members = (cl: number): number[] => [1, 2, 3].filter((id) => infos[id]?.includes(cl));
    const nodes = new Map<number, Clusterer>();
    for (const id of [1, 2, 3]) {
      const mine = infos[id] ?? [];
      const n = new Clusterer({
        transport: net.transport(`10.0.0.${id}`),
        clock,
        dbMode: 0,
        myNodeId: id,
        myNodeInfo: mine.map((cl) => `cluster_id=${cl},url=bin:10.0.0.${id}:5566`),
        neighborNodeInfo: mine.flatMap((cl) =>
          members(cl)
            .filter((m) => m !== id)
            .map((m) => `cluster_id=${cl},node_id=${m},url=bin:10.0.0.${m}:5566`),
        ),
        ...timers,
      });
      n.start();
      nodes.set(id, n);
    }
    const one = nodes.get(1) as Clusterer;
    const events: string[] = [];
    one.on('node_state', (e) => events.push(`${e.clusterId}:${e.nodeId}:${e.up}`));
    clock.advance(5000);
    const ids = (cl: number): number[] =>
      one
        .getNodes(cl)
        .map((x) => x.nodeId)
        .sort();
    expect([ids(1), ids(2), ids(3)]).toEqual([[2], [3], [2, 3]]);
    expect(nodes.get(2)?.getNodes(2)).toEqual([]);
    nodes.get(3)?.destroy();
    net.crash('10.0.0.3');
    clock.advance(5000);
    expect(events.sort()).toEqual([
      '1:2:true',
      '2:3:false',
      '2:3:true',
      '3:2:true',
      '3:3:false',
      '3:3:true',
    ]);
    expect([ids(1), ids(2), ids(3)]).toEqual([[2], [], [2]]);
    // hasReachable agrees with getNodes, per cluster
    expect([1, 2, 3].map((cl) => one.hasReachable(cl))).toEqual([true, false, true]);
    expect(one.hasReachable(99)).toBe(false);
  });
});
