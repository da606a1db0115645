/**
 * Clusterer benchmarks. Run with `npm run bench -w @sipedge/clusterer` after
 * `npx tsc -b packages/clusterer`. Prints each figure with its unit.
 *   1. BIN module packets/s between two node processes on loopback TCP;
 *   2. detection time of a SIGKILLed (and of a SIGSTOPped) peer, ping_interval 1 s,
 *      ping_timeout 300 ms;
 *   3. simulated convergence time and packet count after a node failure, 8/16/32 nodes;
 *   4. full-sync throughput of the KV test capability between two node processes
 *      (`BENCH_SYNC_RECORDS`, default 1,000,000), verified by dataset digest.
 *   5. sharing-tag failover time after SIGKILL of the active owner (3 nodes, ping_interval
 *      1 s, ping_timeout 300 ms, hold-down 300 ms; median and max over `BENCH_TRIALS`).
 * `BENCH_ONLY=sync` / `BENCH_ONLY=failover` runs only that benchmark.
 */

import {
  killJsonProcess as kill,
  type JsonProc as Proc,
  startJsonProcess,
  waitForLine as waitFor,
} from '@sipedge/test-utils';
import { BinFramer } from '../src/bin/framing.js';
import { type ClusterPacket, decodePacket, encodePacket } from '../src/bin/packet.js';
import { SimCluster, Topologies } from '../src/sim/index.js';

const runner = new URL('../test/node-runner.js', import.meta.url).pathname;
const syncRunner = new URL('../test/sync-runner.js', import.meta.url).pathname;
const trials = Number(process.env.BENCH_TRIALS ?? 20);

function start(cfg: Record<string, unknown>, script = runner): Proc {
  return startJsonProcess(script, cfg);
}

const info = (id: number, port: number | string): string =>
  `cluster_id=1,node_id=${id},url=bin:127.0.0.1:${port}`;
const stats = (xs: number[]): { median: number; max: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: s[Math.floor((s.length - 1) / 2)] ?? Number.NaN,
    max: s[s.length - 1] ?? Number.NaN,
  };
};

function codec(): void {
  // a usrloc replication packet as OpenSIPS sends one, built anew for every encode
  const packet = (): ClusterPacket => ({
    kind: 'module',
    cluster: 1,
    src: 1,
    dst: 2,
    capability: 'usrloc-contact-repl',
    version: 5,
    type: 3,
    body: Buffer.alloc(120, 1),
  });
  const pkt = encodePacket(packet());
  const n = 300_000;
  const stream = Buffer.concat(Array.from({ length: 1000 }, () => pkt));
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) encodePacket(packet());
  let s = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`codec encode (module packet, 160 B): ${Math.round(n / s)} packets/s`);
  const f = new BinFramer();
  t = process.hrtime.bigint();
  let got = 0;
  for (let i = 0; i < n / 1000; i++)
    for (const p of f.push(stream).packets) {
      decodePacket(p);
      got++;
    }
  s = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`codec frame+decode (module packet, 160 B): ${Math.round(got / s)} packets/s`);
}

async function throughput(): Promise<void> {
  const a = start({ myNodeId: 1, listenPort: 0, dbMode: 0, myNodeInfo: [info(1, '$PORT')] });
  const pa = (await waitFor(a, (l) => l.event === 'ready')).port as number;
  const b = start({
    myNodeId: 2,
    listenPort: 0,
    dbMode: 0,
    myNodeInfo: [info(2, '$PORT')],
    neighborNodeInfo: [info(1, pa)],
  });
  try {
    await waitFor(a, (l) => l.event === 'node_state' && l.nodeId === 2 && l.up === true);
    const count = 300_000;
    const t0 = performance.now();
    a.child.stdin?.write(`${JSON.stringify({ cmd: 'blast', to: 2, count })}\n`);
    const done = await waitFor(b, (l) => l.event === 'bench_done', 120_000);
    const s = (performance.now() - t0) / 1000;
    console.log(
      `BIN module packets between two node processes on loopback (64-byte body, 102 B on the wire): ${Math.round(((done.received as number) - 1) / s)} packets/s (${count} packets in ${s.toFixed(2)} s)`,
    );
  } finally {
    await kill(a, 'SIGKILL');
    await kill(b, 'SIGKILL');
  }
}

async function detection(sig: 'SIGKILL' | 'SIGSTOP', n: number): Promise<void> {
  const timers = { pingInterval: 1, pingTimeout: 300, nodeTimeout: 60 };
  const a = start({
    myNodeId: 1,
    listenPort: 0,
    dbMode: 0,
    myNodeInfo: [info(1, '$PORT')],
    ...timers,
  });
  const pa = (await waitFor(a, (l) => l.event === 'ready')).port as number;
  const times: number[] = [];
  let portB = 0;
  try {
    for (let i = 0; i < n; i++) {
      const b = start({
        myNodeId: 2,
        listenPort: portB,
        dbMode: 0,
        myNodeInfo: [info(2, '$PORT')],
        neighborNodeInfo: [info(1, pa)],
        ...timers,
      });
      const ups = a.lines.filter((l) => l.event === 'node_state' && l.up === true).length;
      portB = (await waitFor(b, (l) => l.event === 'ready')).port as number;
      await waitFor(
        a,
        () => a.lines.filter((l) => l.event === 'node_state' && l.up === true).length > ups,
      );
      // kill at a random phase of the ping cycle, after the link settled
      await new Promise((r) => setTimeout(r, 1500 + Math.random() * 1000));
      const downs = a.lines.filter((l) => l.event === 'node_state' && l.up === false).length;
      const t0 = Date.now();
      if (b.child.pid !== undefined) process.kill(b.child.pid, sig);
      const ev = await waitFor(
        a,
        () => a.lines.filter((l) => l.event === 'node_state' && l.up === false).length > downs,
      );
      const down = a.lines.filter((l) => l.event === 'node_state' && l.up === false)[downs] ?? ev;
      times.push((down.t as number) - t0);
      await kill(b, 'SIGKILL');
    }
  } finally {
    await kill(a, 'SIGKILL');
  }
  const { median, max } = stats(times);
  console.log(
    `detection of a ${sig === 'SIGKILL' ? 'SIGKILLed' : 'SIGSTOPped (silent)'} peer, ping_interval 1 s, ping_timeout 300 ms, ${n} trials: median ${median} ms, max ${max} ms`,
  );
}

function convergence(): void {
  for (const n of [8, 16, 32]) {
    for (const [name, edges] of [
      ['full mesh', Topologies.fullMesh(n)],
      ['two sites', Topologies.twoSite(n)],
    ] as const) {
      for (const failure of ['crash', 'silent'] as const) {
        const times: number[] = [];
        const packets: number[] = [];
        for (let seed = 1; seed <= 5; seed++) {
          const sim = new SimCluster({
            nodes: n,
            edges,
            seed,
            node: { pingInterval: 1, pingTimeout: 300, nodeTimeout: 60 },
            delay: 1,
          });
          sim.settle(60_000);
          sim.clock.advance(3000 + sim.random.int(0, 1000));
          const topo = (): number =>
            [...sim.nodes]
              .filter(([id]) => id !== n)
              .reduce((s, [, x]) => s + (x.counters.get('topology_sent') ?? 0), 0);
          const before = topo();
          if (failure === 'crash') sim.crash(n);
          else for (let o = 1; o < n; o++) sim.cutEdge(n, o);
          const t =
            failure === 'crash'
              ? sim.settle(60_000, 5)
              : sim.clock.runUntil(
                  () =>
                    [...sim.nodes].every(
                      ([id, x]) => id === n || x.getNodes(1).every((v) => v.nodeId !== n),
                    ),
                  60_000,
                  5,
                );
          times.push(t);
          packets.push(topo() - before);
        }
        const tt = stats(times);
        const pp = stats(packets);
        console.log(
          `simulated convergence after a node ${failure === 'crash' ? 'crash (connections reset)' : 'silent failure (links black-holed)'}, ${name} of ${n} nodes, ping_interval 1 s, ping_timeout 300 ms (virtual time, 5 seeds): median ${tt.median} ms, max ${tt.max} ms; topology packets median ${pp.median}, max ${pp.max}`,
        );
      }
    }
  }
}

async function fullSync(): Promise<void> {
  const records = Number(process.env.BENCH_SYNC_RECORDS ?? 1_000_000);
  // ping_interval 1 s, ping_timeout 300 ms: the reply is streamed behind the pings
  const donor = start({ id: 1, neighbors: [], records, seed: true, pingTimeout: 300 }, syncRunner);
  try {
    const ready = await waitFor(donor, (l) => l.event === 'ready', 120_000);
    const d = await waitFor(donor, (l) => l.event === 'synced', 120_000);
    const joiner = start(
      {
        id: 2,
        neighbors: [{ id: 1, port: ready.port }],
        records: 0,
        seed: false,
        pingTimeout: 300,
      },
      syncRunner,
    );
    try {
      const asked = await waitFor(
        joiner,
        (l) => l.event === 'cap' && String(l.report).startsWith('Sync requested'),
        60_000,
      );
      const done = await waitFor(joiner, (l) => l.event === 'synced', 600_000);
      const ms = Number(done.t) - Number(asked.t);
      const ok = done.digest === d.digest && done.size === records;
      const starts = joiner.lines.filter(
        (l) => l.event === 'cap' && String(l.report).startsWith('Sync started'),
      ).length;
      const downs = joiner.lines.filter((l) => l.event === 'node_state' && l.up === false).length;
      // each record: key "k<i>", value "v<i>", 2+2 length bytes, 8 bytes version/origin, plus
      // the 8-byte chunk header of the SYNC framing
      let bytes = 0;
      for (let i = 0; i < records; i++) bytes += 2 * String(i).length + 2 + 12 + 8;
      console.log(
        `full sync of ${records} records over loopback TCP: ${ms.toFixed(0)} ms, ` +
          `${Math.round((records / ms) * 1000)} records/s, ${(((bytes / ms) * 1000) / 1e6).toFixed(1)} MB/s ` +
          `(chunk payload), digest ${ok ? 'verified' : `MISMATCH ${done.digest} vs ${d.digest}`} ` +
          `(${done.size}/${records} records); ping_timeout 300 ms, syncs started ${starts}, ` +
          `donor-down events ${downs}`,
      );
    } finally {
      await kill(joiner, 'SIGKILL');
    }
  } finally {
    await kill(donor, 'SIGKILL');
  }
}

async function tagFailover(n: number): Promise<void> {
  const times: number[] = [];
  let doubles = 0;
  for (let i = 0; i < n; i++) {
    const base = { records: 0, tags: ['vip/1=backup'], holdDownMs: 300 };
    const n1 = start({ id: 1, neighbors: [], seed: true, ...base }, syncRunner);
    const all = [n1];
    try {
      const p1 = Number((await waitFor(n1, (l) => l.event === 'ready')).port);
      const n2 = start(
        { id: 2, neighbors: [{ id: 1, port: p1 }], seed: false, ...base },
        syncRunner,
      );
      const n3 = start(
        { id: 3, neighbors: [{ id: 1, port: p1 }], seed: false, ...base },
        syncRunner,
      );
      all.push(n2, n3);
      await waitFor(n1, (l) => l.event === 'shtag' && l.state === 'active');
      await waitFor(n2, (l) => l.event === 'node_state' && l.nodeId === 3 && l.up === true);
      await waitFor(n3, (l) => l.event === 'node_state' && l.nodeId === 2 && l.up === true);
      const t0 = Date.now();
      await kill(n1, 'SIGKILL');
      const hit = await Promise.race([
        waitFor(n2, (l) => l.event === 'shtag' && l.state === 'active'),
        waitFor(n3, (l) => l.event === 'shtag' && l.state === 'active'),
      ]);
      times.push(Number(hit.wall) - t0);
      await new Promise((r) => setTimeout(r, 1500));
      const a2 = n2.lines.filter((l) => l.event === 'shtag').at(-1)?.state === 'active';
      const a3 = n3.lines.filter((l) => l.event === 'shtag').at(-1)?.state === 'active';
      if (a2 && a3) doubles++;
    } finally {
      await Promise.all(all.map((p) => kill(p, 'SIGKILL')));
    }
  }
  const s = stats(times);
  console.log(
    `sharing-tag failover after SIGKILL (3 nodes, ping_interval 1 s, ping_timeout 300 ms, ` +
      `hold-down 300 ms, ${n} trials): median ${s.median} ms, max ${s.max} ms, ` +
      `runs with two actives 1.5 s later: ${doubles}`,
  );
}

if (process.env.BENCH_ONLY === 'failover') {
  await tagFailover(trials);
  process.exit(0);
}
if (process.env.BENCH_ONLY === 'sync') {
  await fullSync();
  process.exit(0);
}
if (process.env.BENCH_SKIP_SIM === undefined) codec();
if (process.env.BENCH_SKIP_SIM === undefined) convergence();
await throughput();
await detection('SIGKILL', trials);
await detection('SIGSTOP', Math.max(3, Math.floor(trials / 2)));
await fullSync();
await tagFailover(trials);
