/**
 * One usrloc replication node process for the real-TCP test and the benchmark: a memory-only Location, a
 * UsrlocReplicator and a clusterer on loopback TCP. argv[2] is JSON
 * { id, neighbors: [{id, port}], seed, contacts, expect, pingTimeout, port }:
 * `contacts` bindings are loaded locally at start (not replicated: the donor's dataset);
 * `expect` = print {"event":"count"} once the location holds that many contacts.
 * stdin line `write <n>` makes n new local bindings (each replicated to every node);
 * `digest` prints {"event":"digest", size, digest}.
 * Prints JSON lines: ready {port}, synced {size, digest, t}, count {n, t}, wrote {n, t0, t},
 * node_state {nodeId, up, t}.
 * t values are absolute ms (performance.timeOrigin + now), comparable between processes.
 * Exits on SIGTERM.
 */
import { createInterface } from 'node:readline';
import { Clusterer, TcpBinTransport } from '@sipedge/clusterer';
import { type ContactRecord, Location, UsrlocReplicator } from '../src/index.js';

interface Cfg {
  id: number;
  neighbors: { id: number; port: number }[];
  seed: boolean;
  contacts: number;
  expect?: number;
  /** ms (default 300, with ping_interval 1 s); nodeTimeout is twice it (at least 2 s). */
  pingTimeout?: number;
  /** Listen port (default 0: any). */
  port?: number;
}
const cfg = JSON.parse(process.argv[2] ?? '{}') as Cfg;
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const abs = (): number => performance.timeOrigin + performance.now();

const transport = new TcpBinTransport({
  listen: { proto: 'bin', host: '127.0.0.1', port: cfg.port ?? 0 },
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
  // the sync stream is paced behind pings and pongs (clusterer README, "sync streams"), so
  // the usual 300 ms holds even for a 1,000,000-binding sync
  pingInterval: 1,
  pingTimeout: cfg.pingTimeout ?? 300,
  nodeTimeout: Math.max(2, (2 * (cfg.pingTimeout ?? 300)) / 1000),
  sync: { seedFallbackInterval: 0.5, syncTimeout: 30, antiEntropyInterval: 0 },
});
const location = new Location({ nodeId: cfg.id });
let serial = 0;
const now0 = Date.now();
/**
 * A flat copy, as the registrar stores what it cut from a REGISTER (`ownString`); a template
 * literal would leave a rope that the first sync has to flatten.
 */
const flat = (s: string): string => Buffer.from(s, 'latin1').toString('latin1');

function binding(): ContactRecord {
  const i = serial++;
  return {
    id: location.ids.next(),
    aor: flat(`user${cfg.id}x${i}@example.com`),
    uri: flat(`sip:user${i}@192.0.2.${i % 250}:${5060 + (i % 1000)};transport=udp`),
    params: '',
    received: flat(`sip:198.51.100.${i % 250}:${40000 + (i % 20000)}`),
    path: ['<sip:edge1.example.com;lr>'],
    expires: now0 + 3_600_000,
    q: null,
    callId: flat(`${i}-a84b4c76e66710@pc33.example.com`),
    cseq: 1,
    flags: 0,
    userAgent: 'Phone/1.0',
    socket: 'udp:10.0.0.1:5060',
    methods: null,
    instance: null,
    regId: null,
    lastModified: now0,
    nodeId: cfg.id,
    shtag: null,
  };
}
// the donor's dataset, loaded before the replicator exists (so it is not sent as events)
for (let i = 0; i < cfg.contacts; i++) {
  const c = binding();
  location.commit(c.aor, [c], [{ type: 'insert', contact: c, reason: 'register' }]);
}
const repl = new UsrlocReplicator({ location, clusterer: node });
let counted = false;
const checkCount = (): void => {
  if (!counted && cfg.expect !== undefined && location.contactCount >= cfg.expect) {
    counted = true;
    out({ event: 'count', n: location.contactCount, t: abs(), digest: repl.digest() });
  }
};
location.onChange(checkCount);
node.onCapStatus((e) => {
  out({ event: 'cap', status: e.status, report: e.report, t: abs() });
  if (e.status === 1)
    out({ event: 'synced', size: location.contactCount, digest: repl.digest(), t: abs() });
});
node.on('node_state', (e: { nodeId: number; up: boolean }) =>
  out({ event: 'node_state', nodeId: e.nodeId, up: e.up, t: abs() }),
);
node.start();
out({ event: 'ready', port: addr.port });

async function write(n: number): Promise<void> {
  const t0 = abs();
  for (let i = 0; i < n; i++) {
    const c = binding();
    location.commit(c.aor, [c], [{ type: 'insert', contact: c, reason: 'register' }]);
    // let the socket drain now and then (a real registrar gets one REGISTER per turn)
    if (i % 2000 === 1999) await new Promise((r) => setImmediate(r));
  }
  out({ event: 'wrote', n, t0, t: abs(), sent: repl.counters.sent });
}
createInterface({ input: process.stdin }).on('line', (l) => {
  const m = /^write (\d+)$/.exec(l.trim());
  if (m) void write(Number(m[1]));
  else if (l.trim() === 'digest')
    out({ event: 'digest', size: location.contactCount, digest: repl.digest() });
});
process.on('SIGTERM', () => {
  node.stop();
  void transport.close().then(() => process.exit(0));
});
