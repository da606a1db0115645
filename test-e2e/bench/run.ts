/**
 * `npm run bench:e2e`: side-by-side figures measured in one run on this machine, printed as a
 * markdown table for BENCHMARKS.md.
 *
 * - REGISTERs/s sipp gets through one cluster-node (registrar, usrloc in memory) and through
 *   Kamailio 5.6 (registrar, usrloc db_mode 0), same sipp load, and the ratio; the same for three
 *   cluster-nodes with replication against three Kamailio with dmq_usrloc;
 * - `register-side` (register-side.ts): default config against Kamailio db_mode 1 on SQLite and
 *   in memory against db_mode 0, rounds alternating, REGISTER/s and CPU-seconds per 100,000;
 * - service-address failover after SIGKILL of the owner (median and max of BENCH_KILLS kills);
 * - time for a joining node to sync BENCH_SYNC registrations (default 100000,1000000);
 * - U+D rtpproxy commands/s through a node's rtp-cluster socket vs straight to the relay;
 * - federation (bench/federation.ts): REGISTER/s with federation on vs off, presence updates/s
 *   a site publishes, the latency a cross-site lookup adds;
 * - `rtp-side`: the balancer beside a bare forwarding hop, sippy rtpproxy and relay members
 *   (bench/rtp-side.ts);
 * - `calls-media`: sipp calls/s through Kamailio with its own rtpproxy set against Kamailio →
 *   a node's balancer, same rtpproxy members (bench/calls-media.ts).
 *
 * Each part runs alone (nothing else of ours runs meanwhile). `BENCH_ONLY=register,rtp,…`
 * picks parts. A part that fails prints its error in its row and the others still run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Proc, peerPort, until, waitUdpBound } from '@sipedge/test-utils';
import {
  type Address,
  activeOwners,
  aors,
  kamailioContacts,
  kamailioRegistrarConfig,
  RtppClient,
  relaysOnline,
  type SippFigures,
  SipUdpUa,
  sippRegisterRun,
  startCluster,
  startKamailioBench,
  startRegisterLoad,
  usrlocSynced,
} from '../src/index.js';
import { benchCallsMedia } from './calls-media.js';
import { benchFederation } from './federation.js';
import { fmt } from './format.js';
import { benchRegisterSide } from './register-side.js';
import { benchRtpSide } from './rtp-side.js';

const ONLY = process.env.BENCH_ONLY?.split(',');
const want = (part: string) => ONLY === undefined || ONLY.includes(part);
const rows: string[][] = [];
const row = (...cells: string[]) => {
  rows.push(cells);
  console.error(`  ${cells.join(' | ')}`);
};
const REG = {
  // long enough for a steady rate (a 30,000 run lasts under 2 s and moved ±20 % between runs)
  count: Number(process.env.BENCH_REGISTERS ?? 150_000),
  rate: Number(process.env.BENCH_REGISTER_RATE ?? 40_000), // above what either side sustains: a capacity, not a cap
  limit: Number(process.env.BENCH_REGISTER_LIMIT ?? 200),
};

/** The three-node rows: three Kamailio with dmq_usrloc fall far behind a larger load. */
const REG3 = {
  count: Number(process.env.BENCH_REGISTERS3 ?? 30_000),
  rate: Number(process.env.BENCH_REGISTER3_RATE ?? 20_000),
  limit: REG.limit,
};

async function benchRegister(): Promise<void> {
  const load = `${fmt(REG.count)} new REGISTERs (distinct users), sipp -r ${REG.rate} -l ${REG.limit}, UDP`;
  let ours: SippFigures | undefined;
  {
    await using cluster = await startCluster({
      nodes: 1,
      logLevel: 'warn',
      configure: (c) => {
        c.storage = { file: ':memory:' };
        (c.sip as Record<string, unknown>).nat_ping = { enabled: false };
      },
    });
    await sippRegisterRun(cluster.dir, cluster.node(1).sipUdp!, {
      ...REG,
      count: 2000,
      prefix: 'w',
    });
    ours = await sippRegisterRun(cluster.dir, cluster.node(1).sipUdp!, { ...REG, prefix: 'r' });
    row(
      'REGISTER/s, one cluster-node (usrloc in memory)',
      `${fmt(ours.rate)}/s (${fmt(ours.ok)} ok, ${ours.failed} failed, ${ours.retrans} retrans)`,
      load,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-kam-'));
  try {
    const sipPort = await peerPort();
    writeFileSync(join(dir, 'k.cfg'), kamailioRegistrarConfig({ sipPort, children: 2 }));
    const k = await startKamailioBench(dir, join(dir, 'k.cfg'));
    try {
      await waitUdpBound(sipPort, 15_000);
      const target = { host: '127.0.0.1', port: sipPort };
      await sippRegisterRun(dir, target, { ...REG, count: 2000, prefix: 'w' });
      const kam = await sippRegisterRun(dir, target, { ...REG, prefix: 'r' });
      row(
        'REGISTER/s, Kamailio 5.6 (usrloc db_mode 0, children=2)',
        `${fmt(kam.rate)}/s (${fmt(kam.ok)} ok, ${kam.failed} failed, ${kam.retrans} retrans)`,
        load,
      );
      if (ours !== undefined && kam.rate > 0) {
        row('ratio cluster-node / Kamailio', `${fmt(ours.rate / kam.rate, 2)}x`, 'target ≥ 1.0x');
      }
    } finally {
      await k.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Three sipp runs at once, one per target; figures summed over the wall time of the slowest. */
async function sippParallel(
  dir: string,
  targets: Address[],
  o: { count: number; rate: number; limit: number; prefix: string },
): Promise<SippFigures> {
  const started = process.hrtime.bigint();
  const runs = await Promise.all(
    targets.map((t, i) =>
      sippRegisterRun(dir, t, {
        ...o,
        count: Math.floor(o.count / targets.length),
        rate: Math.ceil(o.rate / targets.length),
        prefix: `${o.prefix}${i}x`,
      }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const ok = runs.reduce((a, r) => a + r.ok, 0);
  return {
    ok,
    failed: runs.reduce((a, r) => a + r.failed, 0),
    retrans: runs.reduce((a, r) => a + r.retrans, 0),
    seconds,
    rate: ok / seconds,
  };
}

async function benchRegister3(): Promise<void> {
  const load = `${fmt(REG3.count)} new REGISTERs, three sipp at once (one per node, -r ${Math.ceil(REG3.rate / 3)} -l ${REG3.limit} each), UDP`;
  let ours: SippFigures | undefined;
  {
    await using cluster = await startCluster({
      nodes: 3,
      proxy: false,
      logLevel: 'warn',
      configure: (c) => {
        c.storage = { file: ':memory:' };
        (c.sip as Record<string, unknown>).nat_ping = { enabled: false };
      },
    });
    const targets = cluster.nodes.map((n) => n.sipUdp!);
    await sippParallel(cluster.dir, targets, { ...REG3, count: 3000, prefix: 'w' });
    ours = await sippParallel(cluster.dir, targets, { ...REG3, prefix: 'r' });
    const t0 = Date.now();
    let replicated = 'not everywhere within 60 s';
    try {
      await until(
        async () => {
          for (const n of cluster.nodes) if ((await aors(n)).size < ours!.ok + 3000) return false;
          return true;
        },
        { what: 'every node to hold every registration', timeoutMs: 60_000, intervalMs: 250 },
      );
      replicated = `on every node ${fmt((Date.now() - t0) / 1000, 1)} s after the last 200`;
    } catch {}
    row(
      'REGISTER/s, three cluster-nodes with usrloc replication',
      `${fmt(ours.rate)}/s (${fmt(ours.ok)} ok, ${ours.failed} failed, ${ours.retrans} retrans; ${replicated})`,
      load,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-kam3-'));
  const procs: Proc[] = [];
  try {
    const sip = [await peerPort(), await peerPort(), await peerPort()];
    const dmq = [await peerPort(), await peerPort(), await peerPort()];
    for (let i = 0; i < 3; i++) {
      const sub = join(dir, `k${i}`);
      mkdirSync(sub);
      writeFileSync(
        join(sub, 'k.cfg'),
        kamailioRegistrarConfig({
          sipPort: sip[i]!,
          children: 2,
          dmq: { port: dmq[i]!, notify: dmq[0]! },
          ctl: `unix:${join(sub, 'ctl')}`,
        }),
      );
      procs.push(await startKamailioBench(sub, join(sub, 'k.cfg')));
      await waitUdpBound(sip[i]!, 15_000);
    }
    const ctls = [0, 1, 2].map((i) => `unix:${join(dir, `k${i}`, 'ctl')}`);
    // dmq peers find each other through the notification node
    await until(
      async () => {
        const ua = await new SipUdpUa().bind();
        try {
          await ua.register({ host: '127.0.0.1', port: sip[1]! }, `probe${Date.now()}`);
        } finally {
          ua.close();
        }
        const n = await Promise.all(ctls.map(kamailioContacts));
        return n[0] === n[1] && n[1] === n[2] && (n[0] ?? 0) > 0;
      },
      { what: 'dmq_usrloc to replicate between the three', timeoutMs: 30_000, intervalMs: 1000 },
    );
    const before = await kamailioContacts(ctls[0]!);
    const targets = sip.map((port) => ({ host: '127.0.0.1', port }));
    await sippParallel(dir, targets, { ...REG3, count: 3000, prefix: 'w' });
    const kam = await sippParallel(dir, targets, { ...REG3, prefix: 'r' });
    const t0 = Date.now();
    let replicated = 'not everywhere within 60 s';
    try {
      await until(
        async () => {
          const n = await Promise.all(ctls.map(kamailioContacts));
          return n.every((x) => x >= before + 3000 + kam.ok);
        },
        { what: 'every Kamailio to hold every registration', timeoutMs: 60_000, intervalMs: 250 },
      );
      replicated = `on every node ${fmt((Date.now() - t0) / 1000, 1)} s after the last 200`;
    } catch {}
    row(
      'REGISTER/s, three Kamailio 5.6 with dmq_usrloc (children=2 each)',
      `${fmt(kam.rate)}/s (${fmt(kam.ok)} ok, ${kam.failed} failed, ${kam.retrans} retrans; ${replicated})`,
      load,
    );
    if (ours !== undefined && kam.rate > 0) {
      row(
        'ratio three cluster-nodes / three Kamailio',
        `${fmt(ours.rate / kam.rate, 2)}x`,
        'target ≥ 0.8x',
      );
    }
  } finally {
    for (const p of procs) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchFailover(): Promise<void> {
  const kills = Number(process.env.BENCH_KILLS ?? 20);
  await using cluster = await startCluster({ nodes: 3, ha: { active: 1 }, logLevel: 'warn' });
  const sa = cluster.serviceAddress!;
  using probe = await new SipUdpUa().bind();
  const times: number[] = [];
  for (let i = 0; i < kills; i++) {
    await until(async () => (await probe.options(sa, 200)) !== undefined, {
      what: 'the service address to answer',
      timeoutMs: 20_000,
    });
    // the owner: the running node whose sharing tag is active
    let owner: number | undefined;
    await until(
      async () => {
        const owners = await activeOwners(cluster);
        owner = owners.length === 1 ? owners[0] : undefined;
        return owner !== undefined;
      },
      { what: 'one owner', timeoutMs: 20_000 },
    );
    const node = cluster.node(owner!);
    const t0 = Date.now();
    await node.kill('SIGKILL');
    await until(async () => (await probe.options(sa, 50)) !== undefined, {
      what: 'a new owner to answer',
      timeoutMs: 20_000,
      intervalMs: 5,
    });
    times.push(Date.now() - t0);
    await node.start();
    await cluster.waitLinked([1, 2, 3]);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] ?? Number.NaN;
  row(
    `service-address failover (SIGKILL → first SIP answer), ${kills} kills`,
    `median ${median} ms, max ${times[times.length - 1]} ms`,
    'ping_interval 1 s, ping_timeout 500 ms, OPTIONS probe every ~5 ms; target median ≤ 1 s',
  );
}

/** REGISTERs/s offered to fill node 1 before the joiner starts (a node takes ~28,000/s). */
const SYNC_FILL_RATE = Number(process.env.BENCH_SYNC_FILL_RATE ?? 15_000);

async function benchSync(count: number): Promise<void> {
  await using cluster = await startCluster({
    nodes: 2,
    start: [1],
    proxy: false,
    logLevel: 'warn',
    clusterer: { ping_timeout: 5000, sync_timeout: 600 },
    configure: (c) => {
      (c.sip as Record<string, unknown>).nat_ping = { enabled: false };
    },
  });
  const load = await startRegisterLoad({
    dir: cluster.dir,
    target: cluster.node(1).sipUdp!,
    count,
    rate: SYNC_FILL_RATE,
    limit: 2000,
    prefix: 'sync',
  });
  // give the fill the time it takes at 1,000/s before calling it stuck
  const { ok } = await load.done(Math.max(120_000, count));
  const t0 = Date.now();
  await cluster.node(2).start();
  const limit = Number(process.env.BENCH_SYNC_TIMEOUT_MS ?? 300_000);
  try {
    await until(() => usrlocSynced(cluster.node(2)), {
      what: `node 2 synced`,
      timeoutMs: limit,
      intervalMs: 100,
    });
    const ms = Date.now() - t0;
    const have = (await aors(cluster.node(2))).size;
    row(
      `startup sync of ${fmt(count)} registrations (join → capability Ok)`,
      `${fmt(ms / 1000, 1)} s (${fmt(have)} of ${fmt(ok.size)} acknowledged present)`,
      `two nodes, BIN over loopback TCP, ping_timeout 5 s, sync_timeout 600 s; loaded with sipp (-r ${SYNC_FILL_RATE}); includes the joiner start-up`,
    );
  } catch (err) {
    row(`startup sync of ${fmt(count)} registrations`, 'did not complete', (err as Error).message);
  }
}

async function udRate(socket: string, calls: number, window: number): Promise<number> {
  const c = new RtppClient({ socket, timeoutMs: 2000 });
  try {
    let next = 0;
    const started = process.hrtime.bigint();
    const worker = async () => {
      while (next < calls) {
        const i = next++;
        const u = await c.send(`U bench-${i} 127.0.0.1 ${20_000 + (i % 1000) * 2} f${i}`);
        if (u.kind !== 'port') throw new Error(`U: ${JSON.stringify(u)}`);
        await c.send(`D bench-${i} f${i}`);
      }
    };
    await Promise.all(Array.from({ length: window }, worker));
    return (2 * calls) / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    c.destroy();
  }
}

async function benchRtp(): Promise<void> {
  const calls = Number(process.env.BENCH_RTP_CALLS ?? 10_000);
  const window = 32;
  await using cluster = await startCluster({
    nodes: 1,
    relays: 1,
    rtpControl: true,
    logLevel: 'warn',
  });
  const relay = cluster.relays[0]!;
  await relaysOnline(cluster.node(1));
  await udRate(relay.spec, 1000, window);
  const direct = await udRate(relay.spec, calls, window);
  await udRate(cluster.node(1).rtpControl!, 1000, window);
  const through = await udRate(cluster.node(1).rtpControl!, calls, window);
  const load = `${fmt(calls)} U+D pairs, ${window} in flight, UDP`;
  row('U+D commands/s straight to sipedge-rtp-relay', `${fmt(direct)}/s`, load);
  row(
    'U+D commands/s through a cluster-node rtp-cluster socket',
    `${fmt(through)}/s (${fmt(through / direct, 2)}x)`,
    load,
  );
}

async function main(): Promise<void> {
  const parts: Array<[string, () => Promise<void>]> = [
    ['register', benchRegister],
    ['register-side', () => benchRegisterSide(row)],
    ['register3', benchRegister3],
    ['failover', benchFailover],
    ...(process.env.BENCH_SYNC ?? '100000,1000000')
      .split(',')
      .map((n): [string, () => Promise<void>] => ['sync', () => benchSync(Number(n))]),
    ['rtp', benchRtp],
    ['federation', () => benchFederation(row)],
    ['rtp-side', () => benchRtpSide(row)],
    ['calls-media', () => benchCallsMedia(row)],
  ];
  for (const [name, run] of parts) {
    if (!want(name)) continue;
    console.error(`bench:e2e ${name}…`);
    try {
      await run();
    } catch (err) {
      row(name, 'FAILED', (err as Error).message.split('\n')[0] ?? '');
    }
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\n### e2e (${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpu}, Node ${process.version})\n`,
  );
  console.log(
    `\`npm run bench:e2e\`${ONLY === undefined ? '' : ` with BENCH_ONLY=${ONLY.join(',')}`}\n`,
  );
  console.log('| measure | result | load |\n| --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

await main();
