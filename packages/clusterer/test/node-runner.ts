/**
 * A clusterer node as a process, for the real-TCP integration test and the benchmark.
 * argv[2] is JSON: { myNodeId, listenPort, dbMode, myNodeInfo?, neighborNodeInfo?, dbPath?,
 * pingInterval?, pingTimeout?, nodeTimeout? }. Prints one JSON line per event on stdout:
 * {"event":"ready","port":N}, {"event":"node_state","nodeId":N,"up":bool}. Reads JSON
 * commands on stdin: {"cmd":"nodes"} → {"event":"nodes","nodes":[ids]}.
 */
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { Clusterer } from '../src/clusterer.js';
import { SqliteNodeStore } from '../src/nodes/store.js';
import { TcpBinTransport } from '../src/transport/tcp.js';

interface RunnerConfig {
  myNodeId: number;
  listenPort: number;
  dbMode: 0 | 1;
  myNodeInfo?: string[];
  neighborNodeInfo?: string[];
  dbPath?: string;
  pingInterval?: number;
  pingTimeout?: number;
  nodeTimeout?: number;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as RunnerConfig;
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

const transport = new TcpBinTransport({
  listen: { proto: 'bin', host: '127.0.0.1', port: cfg.listenPort },
});
const addr = await transport.listen();
const timers = {
  pingInterval: cfg.pingInterval ?? 1,
  pingTimeout: cfg.pingTimeout ?? 300,
  nodeTimeout: cfg.nodeTimeout ?? 2,
};
const node =
  cfg.dbMode === 1
    ? new Clusterer({
        transport,
        dbMode: 1,
        myNodeId: cfg.myNodeId,
        store: new SqliteNodeStore(new Database(cfg.dbPath ?? ':memory:')),
        ...timers,
      })
    : new Clusterer({
        transport,
        dbMode: 0,
        myNodeId: cfg.myNodeId,
        myNodeInfo: (cfg.myNodeInfo ?? []).map((s) => s.replace('$PORT', String(addr.port))),
        neighborNodeInfo: cfg.neighborNodeInfo ?? [],
        ...timers,
      });
node.on('node_state', (e: { clusterId: number; nodeId: number; up: boolean }) =>
  out({ event: 'node_state', t: Date.now(), ...e }),
);
node.registerCapability('bench-repl', {
  onPacket: (p) => {
    received++;
    if (p.type === 2) out({ event: 'bench_done', received });
  },
});
let received = 0;
node.start();
out({ event: 'ready', port: addr.port });

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let msg: { cmd?: string; to?: number; count?: number };
  try {
    msg = JSON.parse(line) as typeof msg;
  } catch {
    return;
  }
  if (msg.cmd === 'nodes') out({ event: 'nodes', nodes: node.getNodes(1).map((n) => n.nodeId) });
  if (msg.cmd === 'blast' && msg.to !== undefined) {
    // send `count` module packets as fast as the transport takes them, then a closing one
    const body = Buffer.alloc(64, 7);
    const total = msg.count ?? 100_000;
    const to = msg.to;
    let sent = 0;
    const pump = (): void => {
      const peer = node.clusters.get(1)?.nodes.get(to);
      for (let i = 0; i < 2000 && sent < total; i++) {
        if (peer !== undefined && transport.pending(peer.addr) > 1_000_000) break;
        if (node.sendTo(1, to, { capability: 'bench-repl', version: 1, type: 1, body }) === 1)
          sent++;
        else break;
      }
      if (sent < total) setImmediate(pump);
      else {
        node.sendTo(1, to, { capability: 'bench-repl', version: 1, type: 2, body });
        out({ event: 'blast_sent', sent });
      }
    };
    pump();
  }
});
process.on('SIGTERM', () => {
  node.stop();
  void transport.close().then(() => process.exit(0));
});
