/**
 * Shared-secret link authentication over real loopback TCP, each node on its own 127.0.0.x
 * address: nodes with the secret link up (the hello goes first on every connection), a node
 * with another secret is refused both ways, and a raw connection from a node's own address is
 * refused without a hello or closed when it says nothing.
 */
import net from 'node:net';
import { until } from '@sipedge/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePacket } from '../src/bin/packet.js';
import { Clusterer } from '../src/clusterer.js';
import { TcpBinTransport } from '../src/transport/tcp.js';

const SECRET = 'sixteen-chars-secret';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Nodes 1..n on 127.0.0.<id>, each with its own secret (undefined: no auth). */
async function cluster(secrets: (string | undefined)[], firstPacketTimeout = 5000) {
  const ids = secrets.map((_, i) => i + 1);
  const transports = ids.map(
    (id) =>
      new TcpBinTransport({
        listen: { proto: 'bin', host: `127.0.0.${id}`, port: 0 },
        firstPacketTimeout,
      }),
  );
  const ports = await Promise.all(transports.map(async (t) => (await t.listen()).port));
  const url = (id: number) => `bin:127.0.0.${id}:${ports[id - 1]}`;
  const nodes = ids.map((id) => {
    const secret = secrets[id - 1];
    const n = new Clusterer({
      transport: transports[id - 1] as TcpBinTransport,
      dbMode: 0,
      myNodeInfo: [`cluster_id=1,node_id=${id},url=${url(id)}`],
      neighborNodeInfo: ids
        .filter((o) => o !== id)
        .map((o) => `cluster_id=1,node_id=${o},url=${url(o)}`),
      pingInterval: 1,
      pingTimeout: 500,
      nodeTimeout: 2,
      ...(secret === undefined ? {} : { authSecret: secret }),
    });
    n.start();
    return n;
  });
  cleanups.push(async () => {
    for (const n of nodes) n.destroy();
    await Promise.all(transports.map((t) => t.close()));
  });
  const wake = (recheck: () => void): (() => void) => {
    for (const n of nodes) n.on('node_state', recheck);
    const timer = setInterval(recheck, 100);
    return () => {
      clearInterval(timer);
      for (const n of nodes) n.off('node_state', recheck);
    };
  };
  return { nodes, transports, ports, wake };
}

const reachable = (n: Clusterer): number[] =>
  n
    .getNodes(1)
    .map((x) => x.nodeId)
    .sort();

const closed = (s: net.Socket): Promise<void> =>
  new Promise((r) => (s.closed ? r() : s.once('close', () => r())));

describe('auth_secret over TCP', () => {
  it('links nodes that share the secret and refuses one that has another', async () => {
    const { nodes, wake } = await cluster([SECRET, SECRET, 'a-different-secret']);
    const [n1, n2, n3] = nodes as [Clusterer, Clusterer, Clusterer];
    await until(() => reachable(n1).join() === '2' && reachable(n2).join() === '1', {
      what: 'nodes 1 and 2 linked',
      wake,
    });
    await until(() => (n1.counters.get('refused_bad_secret') ?? 0) > 0, {
      what: 'node 1 to refuse node 3',
      wake,
    });
    expect(n3.counters.get('refused_bad_secret') ?? 0).toBeGreaterThan(0);
    expect(reachable(n3)).toEqual([]);
    expect(n1.counters.get('auth_hellos') ?? 0).toBeGreaterThan(0);
  });

  it('refuses a raw connection from a node’s address without a hello, closes a silent one', async () => {
    const { nodes, ports, transports, wake } = await cluster([SECRET, SECRET], 300);
    const n1 = nodes[0] as Clusterer;
    await until(() => reachable(n1).join() === '2', { what: 'nodes linked', wake });
    const forged = net.connect({
      host: '127.0.0.1',
      port: ports[0] as number,
      localAddress: '127.0.0.2',
    });
    forged.on('error', () => {});
    forged.write(
      encodePacket({
        kind: 'mi_cmd',
        cluster: 1,
        src: 2,
        dst: 1,
        command: 'ul_add',
        params: [],
      }),
    );
    let mi = 0;
    n1.on('mi_cmd', () => mi++);
    await closed(forged);
    expect(n1.counters.get('refused_unauthenticated')).toBe(1);
    const silent = net.connect({
      host: '127.0.0.1',
      port: ports[0] as number,
      localAddress: '127.0.0.2',
    });
    silent.on('error', () => {});
    await closed(silent);
    expect(transports[0]?.counters.get('first_packet_timeout')).toBe(1);
    expect(mi).toBe(0);
    expect(reachable(n1)).toEqual([2]);
  });
});
