import { describe, expect, it } from 'vitest';
import { encodePacket } from '../bin/packet.js';
import { Clusterer } from '../clusterer.js';
import { LinkState } from '../nodes/remote-node.js';
import type { BinConnection, PacketSource } from '../runtime.js';
import { VirtualClock } from '../sim/clock.js';
import { SimNetwork } from '../sim/network.js';
import { SeededRandom } from '../sim/random.js';
import { encodeHello } from './hello.js';

const SECRET = 'sixteen-chars-secret';

function world(): { clock: VirtualClock; net: SimNetwork } {
  const clock = new VirtualClock();
  return { clock, net: new SimNetwork(clock, new SeededRandom(1)) };
}

/** Node `id` at 10.0.0.<id> in a three-node cluster. */
function node(
  w: ReturnType<typeof world>,
  id: number,
  extra: Partial<ConstructorParameters<typeof Clusterer>[0]> = {},
): Clusterer {
  const others = [1, 2, 3].filter((x) => x !== id);
  const n = new Clusterer({
    transport: w.net.transport(`10.0.0.${id}`),
    clock: w.clock,
    dbMode: 0,
    myNodeInfo: [`cluster_id=1,node_id=${id},url=bin:10.0.0.${id}:5566`],
    neighborNodeInfo: others.map((o) => `cluster_id=1,node_id=${o},url=bin:10.0.0.${o}:5566`),
    pingInterval: 1,
    pingTimeout: 300,
    nodeTimeout: 5,
    ...extra,
  });
  n.start();
  return n;
}

function threeNodes(extra: Partial<ConstructorParameters<typeof Clusterer>[0]> = {}) {
  const w = world();
  const a = node(w, 1, extra);
  node(w, 2);
  node(w, 3);
  w.clock.runUntil(() => a.getNodes(1).length === 2, 5000);
  return { ...w, a };
}

/** An accepted connection as TcpBinTransport hands it over, from `host`. */
function accepted(
  host: string,
  names?: string[],
): PacketSource & { connection: BinConnection & { closed: boolean } } {
  let nodeId: number | undefined;
  const connection = {
    outbound: false,
    authenticatedAs: undefined as number | undefined,
    closed: false,
    get nodeId() {
      return nodeId;
    },
    admit(id: number) {
      nodeId = id;
    },
    close() {
      this.closed = true;
    },
    ...(names === undefined ? {} : { namesPeer: (n: string) => names.includes(n) }),
  };
  return { host, reply: () => true, connection };
}

const ping = (src: number): Buffer =>
  encodePacket({ kind: 'ping', cluster: 1, src, reqNodeList: false });
const miCmd = (src: number, command = 'ul_add'): Buffer =>
  encodePacket({ kind: 'mi_cmd', cluster: 1, src, dst: 1, command, params: [] });

describe('a node id is accepted only from its configured address', () => {
  it('refuses a ping claiming node 2 from node 3’s address, and closes that connection', () => {
    const { a } = threeNodes();
    const from3 = accepted('10.0.0.3');
    a.receive(ping(2), from3);
    expect(a.counters.get('refused_wrong_address')).toBe(1);
    expect(from3.connection.closed).toBe(true);
    expect(from3.connection.nodeId).toBeUndefined();
  });

  it('refuses an MI_CMD claiming node 2 as the first packet of a connection from node 3', () => {
    const { a } = threeNodes();
    let mi = 0;
    a.on('mi_cmd', () => mi++);
    // routed: relayed by the one node living at the address, node 3, while 2 is my neighbour
    a.receive(miCmd(2), accepted('10.0.0.3'));
    expect(a.counters.get('refused_relayed_control')).toBe(1);
    // from an address no node lives at
    a.receive(miCmd(2), accepted('192.0.2.7'));
    expect(a.counters.get('refused_wrong_address')).toBe(1);
    expect(mi).toBe(0);
    a.receive(miCmd(2), accepted('10.0.0.2'));
    expect(mi).toBe(1);
  });

  it('admits a connection for its first sender and refuses another sender on it', () => {
    const { a } = threeNodes();
    const from3 = accepted('10.0.0.3');
    a.receive(ping(3), from3);
    expect(from3.connection.nodeId).toBe(3);
    a.receive(
      encodePacket({
        kind: 'ls_update',
        cluster: 1,
        src: 2,
        seq: 50,
        timestamp: 1,
        neighbour: 1,
        up: true,
        path: [2],
      }),
      from3,
    );
    expect(a.counters.get('refused_hop_changed')).toBe(1);
    expect(from3.connection.closed).toBe(true);
  });

  it('takes a flooded update relayed by the connection’s node (the last hop of its path)', () => {
    const { a, clock } = threeNodes();
    const from3 = accepted('10.0.0.3');
    a.receive(ping(3), from3);
    a.receive(
      encodePacket({
        kind: 'ls_update',
        cluster: 1,
        src: 2,
        seq: 50,
        timestamp: Math.floor(clock.now() / 1000),
        neighbour: 3,
        up: true,
        path: [2, 3],
      }),
      from3,
    );
    expect([...a.counters.keys()].filter((k) => k.startsWith('refused_'))).toEqual([]);
    expect(from3.connection.closed).toBe(false);
  });

  it('takes an MI_CMD relayed for a node that has no direct link to me', () => {
    const { a } = threeNodes();
    const two = a.clusters.get(1)?.nodes.get(2);
    if (two === undefined) throw new Error('no node 2');
    let mi = 0;
    a.on('mi_cmd', () => mi++);
    two.link = LinkState.DOWN;
    const from3 = accepted('10.0.0.3');
    a.receive(ping(3), from3);
    a.receive(miCmd(2, 'clusterer_list'), from3);
    expect(mi).toBe(1);
    expect(a.counters.get('refused_relayed_control')).toBeUndefined();
  });
});

describe('bins: certificate names', () => {
  it('admits a node whose certificate names its host, refuses one that does not', () => {
    const { a } = threeNodes();
    const good = accepted('10.0.0.2', ['10.0.0.2']);
    a.receive(ping(2), good);
    expect(good.connection.nodeId).toBe(2);
    const bad = accepted('10.0.0.3', ['10.0.0.2', 'node2.example']);
    a.receive(ping(3), bad);
    expect(a.counters.get('refused_certificate_name')).toBe(1);
    expect(bad.connection.closed).toBe(true);
  });

  it('checks a per-node tls_name instead of the host when one is configured', () => {
    const { a } = threeNodes({ tlsNames: new Map([[3, 'node3.example']]) });
    const byHost = accepted('10.0.0.3', ['10.0.0.3']);
    a.receive(ping(3), byHost);
    expect(a.counters.get('refused_certificate_name')).toBe(1);
    const byName = accepted('10.0.0.3', ['node3.example']);
    a.receive(ping(3), byName);
    expect(byName.connection.nodeId).toBe(3);
  });
});

describe('auth_secret', () => {
  it('refuses a connection that sends a packet before its hello', () => {
    const { a } = threeNodes({ authSecret: SECRET });
    const c = accepted('10.0.0.2');
    a.receive(ping(2), c);
    expect(a.counters.get('refused_unauthenticated')).toBe(1);
    expect(c.connection.closed).toBe(true);
  });

  it('admits a connection with a good hello; refuses a wrong secret, a replay, a stale one', () => {
    const { a, clock } = threeNodes({ authSecret: SECRET });
    const hello = encodeHello(SECRET, 2, 1, clock.now());
    const c = accepted('10.0.0.2');
    a.receive(hello, c);
    expect(c.connection).toMatchObject({ authenticatedAs: 2, nodeId: 2, closed: false });
    a.receive(ping(2), c);
    expect([...a.counters.keys()].filter((k) => k.startsWith('refused_'))).toEqual([]);

    const cases: [Buffer, string, string][] = [
      [hello, '10.0.0.2', 'replayed_hello'],
      [encodeHello('another-sixteen-chars', 2, 1, clock.now()), '10.0.0.2', 'bad_secret'],
      [encodeHello(SECRET, 2, 1, clock.now() - 120_000), '10.0.0.2', 'stale_hello'],
      [encodeHello(SECRET, 2, 3, clock.now()), '10.0.0.2', 'bad_hello'],
      [encodeHello(SECRET, 2, 1, clock.now()), '10.0.0.3', 'wrong_address'],
    ];
    for (const [packet, host, reason] of cases) {
      const other = accepted(host);
      a.receive(packet, other);
      expect(a.counters.get(`refused_${reason}`), reason).toBe(1);
      expect(other.connection.closed, reason).toBe(true);
    }
  });

  it('accepts the previous secret while it is listed (rotation) and counts it', () => {
    const { a, clock } = threeNodes({ authSecret: ['new-sixteen-chars!', SECRET] });
    const c = accepted('10.0.0.2');
    a.receive(encodeHello(SECRET, 2, 1, clock.now()), c);
    expect(c.connection.nodeId).toBe(2);
    expect(a.counters.get('auth_old_secret')).toBe(1);
  });
});

describe('refusals are logged once per peer and reason a minute', () => {
  it('logs the first, counts the rest, and logs again a minute later with the count', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = {
      warn: (o: Record<string, unknown>) => lines.push(o),
      info: () => {},
      error: () => {},
      debug: () => {},
      trace: () => {},
      fatal: () => {},
      child: () => logger,
    };
    const { a, clock } = threeNodes({ logger: logger as never });
    for (let i = 0; i < 100; i++) a.receive(ping(2), accepted('10.0.0.3'));
    a.receive(ping(3), accepted('10.0.0.2'));
    expect(a.counters.get('refused_wrong_address')).toBe(101);
    expect(lines.map((l) => l.peer)).toEqual(['10.0.0.3', '10.0.0.2']);
    clock.advance(60_000);
    a.receive(ping(2), accepted('10.0.0.3'));
    expect(lines[2]).toMatchObject({ peer: '10.0.0.3', suppressed: 99 });
  });
});
