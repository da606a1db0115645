/**
 * REGISTER side by side with Kamailio 5.6 (issue 22), one run, rounds alternating:
 *
 * - cluster-node as configured by default (usrloc write-through to its SQLite file, WAL,
 *   `storage.synchronous: normal`) against Kamailio with usrloc `db_mode 1` on SQLite (WAL;
 *   SQLite's default synchronous FULL, which Kamailio cannot change);
 * - cluster-node with `storage.synchronous: full` (fsync per group commit) against the same
 *   Kamailio: the like-for-like durability;
 * - cluster-node with locations in memory (`storage.file: ':memory:'`) against Kamailio with
 *   `db_mode 0`.
 *
 * All five servers run for the whole part; each round gives each of them the same sipp load of
 * new AoRs (`sippRegisterRun`: closed loop, `-r` above what either sustains, `-l` outstanding),
 * the order flipping every round, after a warm-up of each. Besides REGISTER/s, every row has
 * the CPU-seconds the server spent per 100,000 REGISTERs: user + system time of every thread of
 * the Node process, and of every process of Kamailio's process group (it forks its workers),
 * read from /proc before and after the round, so efficiency compares apart from core count.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  cpuSeconds,
  groupCpuSeconds,
  type Proc,
  peerPort,
  waitUdpBound,
} from '@sipedge/test-utils';
import {
  type Address,
  type Cluster,
  kamailioRegistrarConfig,
  kamailioSqliteLocation,
  type NodeConfigObject,
  type SippFigures,
  sippRegisterRun,
  startCluster,
  startKamailioBench,
} from '../src/index.js';
import { fmt } from './format.js';

export type Row = (...cells: string[]) => void;

const LOAD = {
  count: Number(process.env.BENCH_REGISTERS ?? 150_000),
  rate: Number(process.env.BENCH_REGISTER_RATE ?? 40_000),
  limit: Number(process.env.BENCH_REGISTER_LIMIT ?? 300),
  warmup: Number(process.env.BENCH_REGISTER_WARMUP ?? 20_000),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  /** Kamailio db_mode 1 takes a few thousand a second: fewer, so its rounds last as long. */
  db1Count: Number(process.env.BENCH_REGISTERS_DB1 ?? 30_000),
  /**
   * Kamailio db_mode 1 workers: 1 by default, because with 2 its db_sqlite (no busy timeout)
   * fails a third of the REGISTERs with `database is locked` under this load.
   */
  db1Children: Number(process.env.BENCH_KAMAILIO_DB1_CHILDREN ?? 1),
};

/**
 * Kamailio sized for the hundreds of thousands of AoRs the rounds leave: with its defaults
 * (1,024 hash slots, the 256 MB the bench helper gives) the third round of db_mode 0 ran at a
 * fifth of the first, at 260 µs of CPU per REGISTER.
 */
const KAMAILIO_HASH_SIZE = 16;
const KAMAILIO_SHM_MB = 2048;

interface Server {
  readonly label: string;
  /** The label in the ratio rows. */
  readonly short: string;
  /** REGISTERs per round. */
  readonly count: number;
  readonly target: Address;
  readonly cpuSeconds: () => number;
}

interface Measure {
  readonly figures: SippFigures;
  /** CPU-seconds per 100,000 acknowledged REGISTERs. */
  readonly cpuPer100k: number;
}

async function measure(dir: string, s: Server, prefix: string, count: number): Promise<Measure> {
  const before = s.cpuSeconds();
  const figures = await sippRegisterRun(dir, s.target, {
    rate: LOAD.rate,
    limit: LOAD.limit,
    count,
    prefix,
  });
  const cpu = s.cpuSeconds() - before;
  return { figures, cpuPer100k: figures.ok > 0 ? (cpu / figures.ok) * 100_000 : Number.NaN };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

export async function benchRegisterSide(row: Row): Promise<void> {
  const nodeLogs = 'warn';
  const node = (configure?: (c: NodeConfigObject) => void) =>
    startCluster({
      nodes: 1,
      proxy: false,
      logLevel: nodeLogs,
      ...(configure === undefined ? {} : { configure }),
    });
  await using disk = await node();
  await using fullSync = await node((c) => {
    c.storage = { file: './n1.sqlite', synchronous: 'full' };
  });
  await using memory = await node((c) => {
    c.storage = { file: ':memory:' };
  });
  const dir = disk.dir;
  const procs: Proc[] = [];
  const kamailio = async (name: string, children: number, sqlite?: string): Promise<Server> => {
    const sipPort = await peerPort();
    const cfg = join(dir, `${name}.cfg`);
    if (sqlite !== undefined) await kamailioSqliteLocation(sqlite);
    writeFileSync(
      cfg,
      kamailioRegistrarConfig({
        sipPort,
        children,
        hashSize: KAMAILIO_HASH_SIZE,
        ...(sqlite === undefined ? {} : { sqlite }),
      }),
    );
    const p = await startKamailioBench(dir, cfg, KAMAILIO_SHM_MB);
    procs.push(p);
    await waitUdpBound(sipPort, 15_000);
    return {
      label:
        sqlite === undefined
          ? `Kamailio 5.6, usrloc db_mode 0, children=${children}`
          : `Kamailio 5.6, usrloc db_mode 1 on SQLite (WAL, synchronous full: SQLite's default), children=${children}`,
      short: `Kamailio db_mode ${sqlite === undefined ? 0 : 1}`,
      count: sqlite === undefined ? LOAD.count : LOAD.db1Count,
      target: { host: '127.0.0.1', port: sipPort },
      cpuSeconds: () => groupCpuSeconds(p.pid),
    };
  };
  const ours = (short: string, label: string, c: Cluster): Server => ({
    label,
    short,
    count: LOAD.count,
    target: c.node(1).sipUdp!,
    cpuSeconds: () => cpuSeconds(c.node(1).pid),
  });
  try {
    const k1 = await kamailio('k-db1', LOAD.db1Children, join(dir, 'k-location.sqlite'));
    const k0 = await kamailio('k-db0', 2);
    const oursDisk = ours(
      'default config',
      'cluster-node, default config (usrloc write-through to SQLite, WAL, synchronous normal)',
      disk,
    );
    const oursFull = ours(
      'synchronous full',
      'cluster-node, write-through to SQLite with storage.synchronous full',
      fullSync,
    );
    const oursMemory = ours('in memory', 'cluster-node, usrloc in memory', memory);
    const servers = [oursDisk, k1, oursFull, oursMemory, k0];
    const pairs: Array<[Server, Server]> = [
      [oursDisk, k1],
      [oursFull, k1],
      [oursMemory, k0],
    ];
    for (const [i, s] of servers.entries()) {
      await measure(dir, s, `w${i}x`, Math.min(LOAD.warmup, s.count));
    }
    row(
      'load average before the rounds (1, 5, 15 min)',
      loadavg()
        .map((l) => fmt(l, 2))
        .join(', '),
      'the machine is shared: ratios of alternating rounds are what count',
    );
    const results = new Map<Server, Measure[]>(servers.map((s) => [s, []]));
    for (let r = 0; r < LOAD.rounds; r++) {
      const order = r % 2 === 0 ? servers : [...servers].reverse();
      for (const s of order) {
        const m = await measure(dir, s, `r${r}s${servers.indexOf(s)}x`, s.count);
        results.get(s)!.push(m);
        console.error(
          `    round ${r + 1} ${s.label}: ${fmt(m.figures.rate)}/s, ${fmt(m.cpuPer100k, 2)} CPU-s/100k`,
        );
      }
    }
    for (const s of servers) {
      const ms = results.get(s)!;
      const failed = ms.reduce((n, m) => n + m.figures.failed, 0);
      const retrans = ms.reduce((n, m) => n + m.figures.retrans, 0);
      row(
        `REGISTER/s, ${s.label}`,
        `${ms.map((m) => fmt(m.figures.rate)).join(', ')}/s; CPU ${ms.map((m) => fmt(m.cpuPer100k, 2)).join(', ')} s per 100k (${failed} failed, ${retrans} retrans)`,
        `${fmt(s.count)} new AoRs per round, sipp -r ${LOAD.rate} -l ${LOAD.limit}, UDP, after ${fmt(Math.min(LOAD.warmup, s.count))} of warm-up; ${LOAD.rounds} rounds alternating`,
      );
    }
    for (const [a, b] of pairs) {
      const ra = results.get(a)!;
      const rb = results.get(b)!;
      const rate = ra.map((m, i) => m.figures.rate / (rb[i]?.figures.rate ?? Number.NaN));
      const cpu = ra.map((m, i) => m.cpuPer100k / (rb[i]?.cpuPer100k ?? Number.NaN));
      row(
        `ratio cluster-node ${a.short} / ${b.short}`,
        `REGISTER/s ${rate.map((x) => `${fmt(x, 2)}x`).join(', ')} (median ${fmt(median(rate), 2)}x); CPU per REGISTER ${cpu.map((x) => `${fmt(x, 2)}x`).join(', ')}`,
        'round by round',
      );
    }
  } finally {
    for (const p of procs) await p.stop();
  }
}
