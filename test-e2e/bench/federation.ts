/**
 * Federation figures (`BENCH_ONLY=federation`): what the presence publisher costs and gives,
 * on a six-instance Redis Cluster on loopback.
 *
 * - REGISTER/s through one cluster-node with federation on (it is its site's writer: every new
 *   AoR is published) and off, same sipp load, three runs each, alternated; with each, the CPU
 *   seconds per 10,000 REGISTERs of the node process (all its threads, /proc/<pid>/stat) and of
 *   the six Redis processes (their `INFO cpu`), so the node's own cost is told apart from the
 *   two cores it shares with Redis. With `taskset` on the machine the runs are repeated with the
 *   node pinned to CPU 0 and sipp and Redis to CPU 1, in both modes, and once more with only
 *   the node's main thread on CPU 0, its other threads (the Redis client's worker, V8's
 *   helpers) on CPU 1 with sipp and Redis (`BENCH_FED_PIN=0`: neither);
 * - presence updates/s a site publishes: `ul_federation_resync` of every AoR the runs left,
 *   timed until the queue is empty;
 * - call setup (INVITE → 200) placed at site B for a UA registered at site B (local) and at site
 *   A (one federation hop, the lookup cache off so every call reads Redis): p50/p99 of each and
 *   of the difference, the latency a cross-site lookup adds.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import {
  cpuSeconds,
  peerPort,
  type RedisCluster,
  redisCli,
  startRedisCluster,
  until,
} from '@sipedge/test-utils';
import type { Cluster } from '../src/cluster.js';
import {
  type Address,
  type E2eNode,
  type SippFigures,
  SipUdpUa,
  sippRegisterRun,
  startCluster,
} from '../src/index.js';
import { fmt } from './format.js';

type Row = (...cells: string[]) => void;

const REG = {
  count: Number(process.env.BENCH_FED_REGISTERS ?? 50_000),
  rate: Number(process.env.BENCH_REGISTER_RATE ?? 40_000),
  limit: Number(process.env.BENCH_REGISTER_LIMIT ?? 200),
};
const CALLS = Number(process.env.BENCH_FED_CALLS ?? 300);

interface FedStatus {
  writer: boolean;
  degraded: boolean;
  queue_depth: number;
  written: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** One node, usrloc in memory; with `store`, a federation section naming it its site's writer. */
async function oneNode(store: readonly string[] | undefined): Promise<Cluster> {
  const port = await peerPort();
  return startCluster({
    nodes: 1,
    logLevel: 'warn',
    configure: (c) => {
      c.storage = { file: ':memory:' };
      (c.sip as Record<string, unknown>).nat_ping = { enabled: false };
      if (store !== undefined) {
        c.federation = {
          site: 'A',
          sites: [
            { id: 'A', address: `127.0.0.1:${port}` },
            { id: 'B', address: '127.0.0.1:9' },
          ],
          store: { nodes: store },
        };
      }
    },
  });
}

/** CPU seconds the Redis processes have used so far (their own `INFO cpu`). */
async function redisCpu(redis: RedisCluster): Promise<number> {
  let total = 0;
  for (const port of redis.ports) {
    const info = await redisCli(port, 'info', 'cpu');
    for (const m of info.matchAll(/^used_cpu_(?:user|sys):([\d.]+)/gm)) total += Number(m[1]);
  }
  return total;
}

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));

/** Sets the CPUs of a process and all its threads (`one`: of that thread only). */
function pin(pid: number, cpus: string, one = false): void {
  if (TASKSET === undefined) throw new Error('taskset is not installed');
  const args = ['-p', '-c', cpus, String(pid)];
  execFileSync(TASKSET, one ? args : ['-a', ...args], { stdio: 'ignore' });
}

/** The node's main thread on CPU 0, its other threads on CPU 1. */
function pinSplit(pid: number): void {
  for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
    pin(tid, tid === pid ? '0' : '1', true);
  }
}

type Pinning = 'shared' | 'pinned' | 'split';

const PINNING_LOAD: Record<Pinning, string> = {
  shared: 'node, sipp and Redis share both CPUs',
  pinned: 'node pinned to CPU 0, sipp and Redis to CPU 1',
  split: "node's main thread pinned to CPU 0; its other threads, sipp and Redis to CPU 1",
};

async function redisPids(redis: RedisCluster): Promise<number[]> {
  const pids: number[] = [];
  for (const port of redis.ports) {
    const m = /^process_id:(\d+)/m.exec(await redisCli(port, 'info', 'server'));
    if (m !== null) pids.push(Number(m[1]));
  }
  return pids;
}

interface RunFigures {
  readonly sipp: SippFigures;
  /** CPU seconds per 10,000 REGISTERs. */
  readonly nodeCpu: number;
  /** Of which the node's main thread. */
  readonly mainCpu: number;
  readonly redisCpu: number;
}

/**
 * Three runs per mode, alternated. `pinned`: the node on CPU 0; sipp (a child of this process,
 * which is moved to CPU 1 for the runs) and Redis on CPU 1. `split`: as `pinned`, but only the
 * node's main thread on CPU 0.
 */
async function registerRate(
  row: Row,
  redis: RedisCluster,
  store: readonly string[],
  pinning: Pinning,
): Promise<{ node: E2eNode; cluster: Cluster } | undefined> {
  const load = `${fmt(REG.count)} new REGISTERs per run, sipp -r ${REG.rate} -l ${REG.limit}, UDP; ${PINNING_LOAD[pinning]}`;
  const figures: Record<'on' | 'off', RunFigures[]> = { on: [], off: [] };
  let last: { node: E2eNode; cluster: Cluster } | undefined;
  const everyCpu = `0-${availableParallelism() - 1}`;
  const pinned = pinning !== 'shared';
  const pids = pinned ? await redisPids(redis) : [];
  for (const pid of pids) pin(pid, '1');
  try {
    for (let run = 0; run < 3; run++) {
      for (const mode of ['off', 'on'] as const) {
        const cluster = await oneNode(mode === 'on' ? store : undefined);
        const node = cluster.node(1);
        await sippRegisterRun(cluster.dir, node.sipUdp!, { ...REG, count: 2000, prefix: 'w' });
        if (pinned) {
          if (pinning === 'split') pinSplit(node.pid);
          else pin(node.pid, '0');
          pin(process.pid, '1');
        }
        const [node0, main0, redis0] = [
          cpuSeconds(node.pid),
          cpuSeconds(node.pid, node.pid),
          await redisCpu(redis),
        ];
        let f: SippFigures;
        try {
          f = await sippRegisterRun(cluster.dir, node.sipUdp!, { ...REG, prefix: `r${run}` });
        } finally {
          if (pinned) pin(process.pid, everyCpu);
        }
        const per10k = 10_000 / REG.count;
        figures[mode].push({
          sipp: f,
          nodeCpu: (cpuSeconds(node.pid) - node0) * per10k,
          mainCpu: (cpuSeconds(node.pid, node.pid) - main0) * per10k,
          redisCpu: ((await redisCpu(redis)) - redis0) * per10k,
        });
        console.error(
          `    ${pinned ? `${pinning} ` : ''}run ${run + 1} federation ${mode}: ${fmt(f.rate)}/s (${f.failed} failed)`,
        );
        if (mode === 'on' && run === 2 && !pinned) last = { node, cluster };
        else await cluster[Symbol.asyncDispose]();
      }
    }
  } finally {
    for (const pid of pids) pin(pid, everyCpu);
  }
  const mean = (fs: RunFigures[], v: (f: RunFigures) => number): number =>
    fs.reduce((a, f) => a + v(f), 0) / fs.length;
  const rate = (f: RunFigures): number => f.sipp.rate;
  const runs = (fs: RunFigures[]): string => fs.map((f) => fmt(f.sipp.rate)).join(', ');
  const cpu = (fs: RunFigures[]): string =>
    `node ${fmt(
      mean(fs, (f) => f.nodeCpu),
      2,
    )} s (main thread ${fmt(
      mean(fs, (f) => f.mainCpu),
      2,
    )} s), ` +
    `Redis ${fmt(
      mean(fs, (f) => f.redisCpu),
      2,
    )} s (node runs ${fs.map((f) => fmt(f.nodeCpu, 2)).join(', ')})`;
  const tag = pinned ? `, ${pinning}` : '';
  for (const mode of ['off', 'on'] as const) {
    const name = mode === 'off' ? 'federation off' : 'federation on (site writer)';
    row(
      `REGISTER/s, one node, ${name}${tag}`,
      `${fmt(mean(figures[mode], rate))}/s (runs ${runs(figures[mode])})`,
      load,
    );
    row(
      `CPU s per 10,000 REGISTERs, ${name}${tag}`,
      cpu(figures[mode]),
      'utime + stime, /proc and INFO cpu',
    );
  }
  row(
    `ratio on / off${tag}`,
    `${fmt(mean(figures.on, rate) / mean(figures.off, rate), 2)}x REGISTER/s, ` +
      `${fmt(mean(figures.on, (f) => f.nodeCpu) / mean(figures.off, (f) => f.nodeCpu), 2)}x node CPU, ` +
      `${fmt(mean(figures.on, (f) => f.mainCpu) / mean(figures.off, (f) => f.mainCpu), 2)}x main-thread CPU per REGISTER`,
    'target ≥ 0.90x REGISTER/s',
  );
  return last;
}

/** Presence updates/s: every AoR the node holds, written again by a resync. */
async function resyncRate(row: Row, last: { node: E2eNode; cluster: Cluster }): Promise<void> {
  try {
    const { node } = last;
    await until(
      async () => (await node.call<FedStatus>('ul_federation_status')).queue_depth === 0,
      {
        what: 'the publisher to drain after the runs',
        timeoutMs: 60_000,
      },
    );
    const before = (await node.call<FedStatus>('ul_federation_status')).written;
    const t0 = performance.now();
    const { queued } = await node.call<{ queued: number }>('ul_federation_resync');
    await until(
      async () => (await node.call<FedStatus>('ul_federation_status')).queue_depth === 0,
      {
        what: 'the resync to drain',
        timeoutMs: 120_000,
        intervalMs: 20,
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    const written = (await node.call<FedStatus>('ul_federation_status')).written - before;
    row(
      'presence updates/s a site publishes (resync)',
      `${fmt(written / seconds)}/s (${fmt(written)} AoRs in ${fmt(seconds, 2)} s, ${fmt(queued)} queued at once)`,
      'batches of 500, pipelined, 3 masters',
    );
  } finally {
    await last.cluster[Symbol.asyncDispose]();
  }
}

/** INVITE → 200 times (ms) of `count` calls placed at `proxy` for `user`. */
async function setupTimes(
  caller: SipUdpUa,
  proxy: Address,
  user: string,
  count: number,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const r = await caller.request(proxy, (via, callId) => ({
      cseq: '1 INVITE',
      text: [
        `INVITE sip:${user}@e2e.test SIP/2.0`,
        `Via: ${via}`,
        'Max-Forwards: 70',
        `From: <sip:bench@e2e.test>;tag=b${i}`,
        `To: <sip:${user}@e2e.test>`,
        `Call-ID: ${callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:bench@127.0.0.1:${caller.port}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    }));
    if (r?.code !== 200) throw new Error(`call ${i} to ${user}: ${r?.code ?? 'no answer'}`);
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b);
}

async function lookupLatency(row: Row, store: readonly string[]): Promise<void> {
  const ports = { A: await peerPort(), B: await peerPort() };
  const sites = (['A', 'B'] as const).map((id) => ({ id, address: `127.0.0.1:${ports[id]}` }));
  const clusters: Cluster[] = [];
  try {
    for (const id of ['A', 'B'] as const) {
      clusters.push(
        await startCluster({
          nodes: 1,
          logLevel: 'warn',
          configure: (c) => {
            c.sip.listeners = [{ proto: 'udp', address: `127.0.0.1:${ports[id]}` }];
            (c.sip as Record<string, unknown>).nat_ping = { enabled: false };
            c.federation = {
              site: id,
              sites,
              store: { nodes: store },
              lookup_cache: 0,
              negative_cache: 0,
            };
          },
        }),
      );
    }
    const [a, b] = clusters.map((c) => c.node(1).sipUdp!) as [Address, Address];
    using remote = await new SipUdpUa().bind();
    using local = await new SipUdpUa().bind();
    using caller = await new SipUdpUa().bind();
    if ((await remote.register(a, 'remote'))?.code !== 200) throw new Error('register at A');
    if ((await local.register(b, 'local'))?.code !== 200) throw new Error('register at B');
    await until(
      async () => {
        const r = await caller.request(b, (via, callId) => ({
          cseq: '1 OPTIONS',
          text: `OPTIONS sip:remote@e2e.test SIP/2.0\r\nVia: ${via}\r\nMax-Forwards: 70\r\nFrom: <sip:w@e2e.test>;tag=w\r\nTo: <sip:remote@e2e.test>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
        }));
        return r?.code === 200;
      },
      { what: 'site B to reach the UA registered at A', timeoutMs: 10_000, intervalMs: 200 },
    );
    // warm both paths, then measure them interleaved in blocks
    await setupTimes(caller, b, 'local', 20);
    await setupTimes(caller, b, 'remote', 20);
    const localTimes = await setupTimes(caller, b, 'local', CALLS);
    const remoteTimes = await setupTimes(caller, b, 'remote', CALLS);
    const ms = (v: number): string => `${fmt(v, 2)} ms`;
    const load = `${CALLS} sequential INVITEs (no SDP) placed at site B, lookup cache off`;
    row(
      'call setup, callee at the same site (p50 / p99)',
      `${ms(percentile(localTimes, 50))} / ${ms(percentile(localTimes, 99))}`,
      load,
    );
    row(
      'call setup, callee at the other site (p50 / p99)',
      `${ms(percentile(remoteTimes, 50))} / ${ms(percentile(remoteTimes, 99))}`,
      load,
    );
    row(
      'added by the cross-site lookup and hop (p50 / p99)',
      `${ms(percentile(remoteTimes, 50) - percentile(localTimes, 50))} / ${ms(percentile(remoteTimes, 99) - percentile(localTimes, 99))}`,
      'Redis read + the second site as one more proxy',
    );
  } finally {
    await Promise.all(clusters.map((c) => c[Symbol.asyncDispose]()));
  }
}

/** The federation rows of `npm run bench:e2e`. */
export async function benchFederation(row: Row): Promise<void> {
  const redis = await startRedisCluster();
  try {
    const store = redis.nodes.slice(0, 3);
    const last = await registerRate(row, redis, store, 'shared');
    if (last !== undefined) await resyncRate(row, last);
    if (TASKSET !== undefined && process.env.BENCH_FED_PIN !== '0') {
      await registerRate(row, redis, store, 'pinned');
      await registerRate(row, redis, store, 'split');
    }
    await lookupLatency(row, store);
  } finally {
    await redis.stop();
  }
}
