/**
 * A node process for the full-sync benchmark: a TCP clusterer with the KV test capability
 * (startup sync). argv[2] is JSON { id, peerId, peerPort, records, seed, packetSize }. Prints
 * JSON lines: {"event":"ready","port"}, {"event":"cap","status","report","t"} on every sync
 * state change, {"event":"synced","size","digest","t"}. Exits on SIGTERM.
 */
import { Clusterer } from '../src/cluster/clusterer.js';
import { KvCapability } from '../src/sim/kv.js';
import { TcpBinTransport } from '../src/transport/tcp.js';

interface Cfg {
  id: number;
  peerId: number;
  peerPort: number;
  records: number;
  seed: boolean;
  packetSize?: number;
}
const cfg = JSON.parse(process.argv[2] ?? '{}') as Cfg;
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const transport = new TcpBinTransport({
  listen: { proto: 'bin', host: '127.0.0.1', port: cfg.peerPort === 0 ? 0 : 0 },
  maxQueueBytes: 1 << 30,
});
const addr = await transport.listen();
const node = new Clusterer({
  transport,
  dbMode: 0,
  myNodeInfo: [
    `cluster_id=1,node_id=${cfg.id},url=bin:127.0.0.1:${addr.port}${cfg.seed ? ',flags=seed' : ''}`,
  ],
  neighborNodeInfo:
    cfg.peerPort > 0
      ? [`cluster_id=1,node_id=${cfg.peerId},url=bin:127.0.0.1:${cfg.peerPort}`]
      : [],
  pingInterval: 1,
  pingTimeout: 1000,
  nodeTimeout: 2,
  sync: { seedFallbackInterval: 0.5, syncTimeout: 30, syncPacketSize: cfg.packetSize ?? 32768 },
});
const kv = new KvCapability(node);
if (cfg.records > 0) kv.load(cfg.records);
node.onCapStatus((e) => {
  out({ event: 'cap', status: e.status, report: e.report, t: performance.now() });
  if (e.status === 1)
    out({ event: 'synced', size: kv.data.size, digest: kv.digest(), t: performance.now() });
});
node.start();
out({ event: 'ready', port: addr.port });
process.on('SIGTERM', () => {
  node.stop();
  void transport.close().then(() => process.exit(0));
});
