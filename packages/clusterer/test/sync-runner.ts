/**
 * A clusterer node process with the KV test capability (startup sync) and optional sharing
 * tags with failover, for the real-TCP sync/tag test and the full-sync benchmark. argv[2] is
 * JSON { id, neighbors: [{id, port}], records, seed, tags?, holdDownMs?, packetSize?,
 * pingInterval? (s), pingTimeout? (ms) }.
 * Prints JSON lines: {"event":"ready","port"}, {"event":"cap","status","report","t"},
 * {"event":"synced","size","digest","t"}, {"event":"shtag","state","reason","t"},
 * {"event":"node_state","nodeId","up"}.
 * Exits on SIGTERM.
 */
import { Clusterer } from '../src/clusterer.js';
import { KvCapability } from '../src/sim/kv.js';
import { TcpBinTransport } from '../src/transport/tcp.js';

interface Cfg {
  id: number;
  neighbors: { id: number; port: number }[];
  records: number;
  seed: boolean;
  tags?: string[];
  holdDownMs?: number;
  packetSize?: number;
  pingTimeout?: number;
  pingInterval?: number;
}
const cfg = JSON.parse(process.argv[2] ?? '{}') as Cfg;
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const transport = new TcpBinTransport({
  listen: { proto: 'bin', host: '127.0.0.1', port: 0 },
  maxQueueBytes: 1 << 30,
});
const addr = await transport.listen();
const node = new Clusterer({
  transport,
  dbMode: 0,
  myNodeInfo: [
    `cluster_id=1,node_id=${cfg.id},url=bin:127.0.0.1:${addr.port}${cfg.seed ? ',flags=seed' : ''}`,
  ],
  neighborNodeInfo: cfg.neighbors.map(
    (n) => `cluster_id=1,node_id=${n.id},url=bin:127.0.0.1:${n.port}`,
  ),
  pingInterval: cfg.pingInterval ?? 1,
  pingTimeout: cfg.pingTimeout ?? 300,
  nodeTimeout: 2,
  sync: { seedFallbackInterval: 0.5, syncTimeout: 30, syncPacketSize: cfg.packetSize ?? 32768 },
  sharingTags: cfg.tags ?? [],
  ...(cfg.holdDownMs !== undefined
    ? { shtagFailover: { enabled: true, holdDownMs: cfg.holdDownMs } }
    : {}),
});
const kv = new KvCapability(node);
if (cfg.records > 0) kv.load(cfg.records);
node.onCapStatus((e) => {
  out({ event: 'cap', status: e.status, report: e.report, t: performance.now() });
  if (e.status === 1)
    out({ event: 'synced', size: kv.data.size, digest: kv.digest(), t: performance.now() });
});
node.on('node_state', (e: { nodeId: number; up: boolean }) =>
  out({ event: 'node_state', nodeId: e.nodeId, up: e.up, t: performance.now() }),
);
node.onShtagChange((e) =>
  out({ event: 'shtag', state: e.state, reason: e.reason, t: performance.now(), wall: Date.now() }),
);
node.start();
out({ event: 'ready', port: addr.port });
process.on('SIGTERM', () => {
  node.stop();
  void transport.close().then(() => process.exit(0));
});
