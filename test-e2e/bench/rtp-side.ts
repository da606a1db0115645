/**
 * `BENCH_ONLY=rtp-side`: U+D pairs per second, latency and CPU per pair of the balancer (a
 * cluster-node's rtp control socket) in front of two members, beside a bare forwarding hop in
 * front of the same two members (bench/hop.ts: the physical ceiling of one more Node.js process
 * on the path) and beside a client talking straight to one member.
 *
 * Members are sippy rtpproxy (C, built from source; its binary comes in RTPPROXY_BIN) and
 * sipedge-rtp-relay. For each kind of member and each window (1, 16 and 64 commands in flight)
 * the three sides take turns in slices of BENCH_RTP_SLICE_MS (1 s), the order rotating every
 * round, BENCH_RTP_ROUNDS (5) rounds: drift in a shared machine's load hits every side alike, so
 * the ratios are what count. The load generator is a bare datagram socket in this process that
 * reads only the cookie and the first byte of each reply. The CPU time of every process (this
 * one, the hop or the balancer, both members; utime + stime from /proc) is reported per pair.
 *
 * sippy's own rtp_cluster (python) needs the sippy/rtp_cluster and sippy/b2bua repositories;
 * when they are not there the bench says so and shows issue 22's recorded figure as a reference.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, runProcess, startNodeBin } from '@sipedge/test-utils';
import { startRelay, stopOnExit } from '../src/index.js';
import { fmt } from './format.js';
import { daemonReady, startBalancerNode, startDaemon, startRtpproxy } from './rtp-processes.js';

export type Row = (...cells: string[]) => void;

const WINDOWS = (process.env.BENCH_RTP_WINDOWS ?? '1,16,64').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_RTP_ROUNDS ?? 5);
const SLICE_MS = Number(process.env.BENCH_RTP_SLICE_MS ?? 1000);
const HOP_BIN = fileURLToPath(new URL('./hop.js', import.meta.url));
/** A member, hop or balancer process: where it takes commands and its pid. */
interface Endpoint {
  readonly port: number;
  readonly pid: number;
}

/** Busy share of the whole machine between two samples (/proc/stat, all cores). */
function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

interface Slice {
  pairs: number;
  errors: number;
  /** Commands the load generator sent again (no reply within its wait). */
  retransmits: number;
  seconds: number;
  latencies: number[];
  /** CPU seconds: this process, the process in the middle (none for direct), the members. */
  client: number;
  middle: number;
  members: number;
  machineBusy: number;
  machineTotal: number;
}

/** First wait before the load generator sends a command again (then doubling), and its budget. */
const RETRY_MS = Number(process.env.BENCH_RTP_RETRY_MS ?? 50);
const GIVE_UP_MS = 2000;

interface Outstanding {
  readonly id: string;
  readonly d: boolean;
  readonly text: string;
  /** When it was first sent, when it is due again, and the wait after that. */
  readonly t: number;
  due: number;
  wait: number;
}

/**
 * U+D pairs for `ms` with `window` calls in flight against 127.0.0.1:`port`. Every command has
 * its own cookie and is sent again (same cookie) after RETRY_MS, doubling, as a SIP proxy's
 * rtpproxy module does: sippy rtpproxy's control socket has a 32 KB receive buffer and drops
 * part of a 64-command burst. A command unanswered for 2 s is counted and its call slot starts
 * another call.
 */
async function slice(
  target: Endpoint,
  middle: number | undefined,
  members: readonly number[],
  tag: string,
  window: number,
  ms: number,
): Promise<Slice> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.connect(target.port, '127.0.0.1', () => r()));
  const latencies: number[] = [];
  let pairs = 0;
  let errors = 0;
  let retransmits = 0;
  let seq = 0;
  const out = new Map<string, Outstanding>();
  const memberCpu = (): number => members.reduce((a, pid) => a + cpuSeconds(pid), 0);
  const u0 = process.cpuUsage();
  const mid0 = middle === undefined ? 0 : cpuSeconds(middle);
  const mem0 = memberCpu();
  const m0 = machineTicks();
  const start = performance.now();
  const end = start + ms;
  const send = (cookie: string, id: string, d: boolean, text: string, now: number): void => {
    out.set(cookie, { id, d, text, t: now, due: now + RETRY_MS, wait: 2 * RETRY_MS });
    sock.send(text);
  };
  const sendU = (now: number): void => {
    const id = `${tag}-${seq}`;
    const cookie = `${tag}u${seq++}`;
    send(cookie, id, false, `${cookie} U ${id} 127.0.0.1 7000 f;1`, now);
  };
  await new Promise<void>((resolve) => {
    let active = window;
    const retire = (): void => {
      if (--active === 0) resolve();
    };
    const sweep = setInterval(
      () => {
        const now = performance.now();
        for (const [cookie, o] of out) {
          if (now - o.t > GIVE_UP_MS) {
            out.delete(cookie);
            errors++;
            if (now < end) sendU(now);
            else retire();
          } else if (now >= o.due) {
            o.due = now + o.wait;
            o.wait *= 2;
            retransmits++;
            sock.send(o.text);
          }
        }
      },
      Math.max(5, RETRY_MS / 4),
    );
    sock.on('message', (m: Buffer) => {
      const sp = m.indexOf(32);
      const cookie = m.toString('latin1', 0, sp);
      const o = out.get(cookie);
      if (o === undefined) return;
      out.delete(cookie);
      const now = performance.now();
      latencies.push(now - o.t);
      const first = m[sp + 1];
      if (!o.d) {
        if (first === undefined || first < 49 || first > 57) errors++; // not a port (nor 0)
        const dCookie = `${tag}d${seq++}`;
        send(dCookie, o.id, true, `${dCookie} D ${o.id} f`, now);
        return;
      }
      if (first === 69) errors++; // E…
      pairs++;
      if (now < end) sendU(now);
      else retire();
    });
    for (let i = 0; i < window; i++) sendU(performance.now());
    sock.once('close', () => clearInterval(sweep));
  });
  const seconds = (performance.now() - start) / 1000;
  sock.close();
  const u = process.cpuUsage(u0);
  const m1 = machineTicks();
  return {
    pairs,
    errors,
    retransmits,
    seconds,
    latencies,
    client: (u.user + u.system) / 1e6,
    middle: middle === undefined ? 0 : cpuSeconds(middle) - mid0,
    members: memberCpu() - mem0,
    machineBusy: m1.busy - m0.busy,
    machineTotal: m1.total - m0.total,
  };
}

function merge(parts: readonly Slice[]): Slice {
  const sum = (f: (s: Slice) => number): number => parts.reduce((a, s) => a + f(s), 0);
  return {
    pairs: sum((s) => s.pairs),
    errors: sum((s) => s.errors),
    retransmits: sum((s) => s.retransmits),
    seconds: sum((s) => s.seconds),
    latencies: parts.flatMap((s) => s.latencies).sort((a, b) => a - b),
    client: sum((s) => s.client),
    middle: sum((s) => s.middle),
    members: sum((s) => s.members),
    machineBusy: sum((s) => s.machineBusy),
    machineTotal: sum((s) => s.machineTotal),
  };
}

const quantile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;

/** A difference in ms with its sign. */
const signed = (ms: number): string => `${ms < 0 ? '−' : '+'}${fmt(Math.abs(ms), 3)}`;

interface Side {
  readonly name: string;
  readonly target: Endpoint;
  /** The pid of the process between client and members (hop, balancer), if any. */
  readonly middle: number | undefined;
}

/** Figures of one side over its slices: rate, p50, CPU per pair of each process. */
interface Figures {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
  retransmits: number;
  /** µs per pair. */
  client: number;
  middle: number;
  members: number;
  total: number;
  busy: number;
}

function figures(s: Slice): Figures {
  const per = (cpu: number): number => (1e6 * cpu) / Math.max(1, s.pairs);
  return {
    rate: s.pairs / s.seconds,
    p50: quantile(s.latencies, 0.5),
    p99: quantile(s.latencies, 0.99),
    errors: s.errors,
    retransmits: s.retransmits,
    client: per(s.client),
    middle: per(s.middle),
    members: per(s.members),
    total: per(s.client + s.middle + s.members),
    busy: s.machineBusy / Math.max(1, s.machineTotal),
  };
}

const SIDE_NAMES: Record<string, string> = {
  direct: 'direct to one member',
  hop: 'bare hop → 2 members',
  balancer: 'cluster-node balancer → 2 members',
  daemon: 'rtp-cluster daemon → 2 members',
};

/** Every window, the sides taking turns; one row per side and window. */
async function compare(
  row: Row,
  kind: string,
  sides: readonly Side[],
  members: readonly number[],
): Promise<void> {
  for (const window of WINDOWS) {
    for (const side of sides)
      await slice(side.target, side.middle, members, `w${side.name}`, window, 300);
    const slices = new Map<string, Slice[]>(sides.map((s) => [s.name, []]));
    const load0 = loadavg()[0] ?? 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(r + k) % sides.length]!;
        const tag = `${side.name[0]}${window}r${r}`;
        slices
          .get(side.name)!
          .push(await slice(side.target, side.middle, members, tag, window, SLICE_MS));
      }
    }
    const load = `${kind} ×2, ${window} in flight, ${ROUNDS} × ${SLICE_MS} ms slices per side alternating; load avg ${fmt(load0, 2)}`;
    const f = new Map(sides.map((s) => [s.name, figures(merge(slices.get(s.name)!))]));
    const direct = f.get('direct');
    const hop = f.get('hop');
    for (const side of sides) {
      const x = f.get(side.name)!;
      const cpu = `CPU µs/pair: client ${fmt(x.client)}${side.middle === undefined ? '' : `, ${side.name} ${fmt(x.middle)}`}, members ${fmt(x.members)}, all ${fmt(x.total)}; machine ${fmt(100 * x.busy)}% busy`;
      let vs = '';
      if ((side.name === 'balancer' || side.name === 'daemon') && hop && direct) {
        vs = `; **${fmt(x.rate / hop.rate, 2)}× hop** (${fmt(x.rate / direct.rate, 2)}× direct), p50 ${signed(x.p50 - hop.p50)} ms vs hop (${signed(x.p50 - direct.p50)} vs direct), CPU/pair ${fmt(x.total / hop.total, 2)}× hop's (middle process ${fmt(x.middle / Math.max(1, hop.middle), 2)}×)`;
      } else if (side.name === 'hop' && direct !== undefined) {
        vs = `; ${fmt(x.rate / direct.rate, 2)}× direct`;
      }
      row(
        `rtp-side ${kind}: ${SIDE_NAMES[side.name] ?? side.name}, ${window} in flight`,
        `${fmt(x.rate)} pairs/s, p50 ${fmt(x.p50, 3)} ms, p99 ${fmt(x.p99, 3)} ms, ${x.errors} errors, ${x.retransmits} client retransmits${vs}; ${cpu}`,
        load,
      );
    }
  }
}

/** The hop and the balancer in front of `members`, then the comparison. */
async function runKind(
  row: Row,
  dir: string,
  kind: string,
  members: ReadonlyArray<{ name: string; spec: string; port: number; pid: number }>,
): Promise<void> {
  const daemon = await startDaemon(dir, members);
  const hop = await startNodeBin(
    HOP_BIN,
    members.map((m) => String(m.port)),
    /hop ready port=(\d+)/,
  );
  stopOnExit(hop);
  try {
    await using cluster = await startBalancerNode(members);
    const node = cluster.node(1);
    await daemonReady(daemon.port);
    const control = node.rtpControl ?? '';
    const port = Number(control.slice(control.lastIndexOf(':') + 1));
    const first = members[0]!;
    await compare(
      row,
      kind,
      [
        { name: 'direct', target: { port: first.port, pid: first.pid }, middle: undefined },
        { name: 'hop', target: { port: Number(hop.ready), pid: hop.pid }, middle: hop.pid },
        { name: 'balancer', target: { port, pid: node.pid }, middle: node.pid },
        { name: 'daemon', target: { port: daemon.port, pid: daemon.pid }, middle: daemon.pid },
      ],
      members.map((m) => m.pid),
    );
  } finally {
    await hop.stop();
    await daemon.stop();
  }
}

export async function benchRtpSide(row: Row): Promise<void> {
  const bin = process.env.RTPPROXY_BIN;
  const dir = mkdtempSync(join(tmpdir(), 'bench-rtp-side-'));
  try {
    if (bin === undefined || bin === '') {
      const banner = '!'.repeat(78);
      console.error(
        `${banner}\n!!! RTPPROXY_BIN is not set: the rows with sippy rtpproxy members were NOT RUN\n${banner}`,
      );
      row('rtp-side rtpproxy rows', '**NOT RUN** (RTPPROXY_BIN not set)', '—');
    } else {
      const version = runProcess(bin, ['-V']);
      await version.exit;
      const label = `rtpproxy ${version.output().trim()}${process.env.RTPPROXY_COMMIT === undefined ? '' : ` (${process.env.RTPPROXY_COMMIT})`}`;
      console.error(`bench:e2e rtp-side: members are ${label} at ${bin}`);
      const a = await startRtpproxy(bin, dir, 'rtpproxy1', [34_000, 43_999]);
      const b = await startRtpproxy(bin, dir, 'rtpproxy2', [44_000, 53_999]);
      try {
        await runKind(row, dir, label, [
          { name: 'rtpproxy1', spec: a.spec, port: a.port, pid: a.pid },
          { name: 'rtpproxy2', spec: b.spec, port: b.port, pid: b.pid },
        ]);
      } finally {
        await a.stop();
        await b.stop();
      }
    }
    const r1 = await startRelay('relay1');
    const r2 = await startRelay('relay2');
    try {
      const portOf = (spec: string): number => Number(spec.slice(spec.lastIndexOf(':') + 1));
      await runKind(row, dir, 'sipedge-rtp-relay', [
        { name: r1.name, spec: r1.spec, port: portOf(r1.spec), pid: r1.proc.pid },
        { name: r2.name, spec: r2.spec, port: portOf(r2.spec), pid: r2.proc.pid },
      ]);
    } finally {
      await r1.dispose();
      await r2.dispose();
    }
    row(
      'rtp-side: sippy rtp_cluster (python)',
      '**NOT RUN**: it needs the sippy/rtp_cluster and sippy/b2bua repositories, not on this machine',
      'reference only, from issue 22 (another run, another machine state): 400–465 pairs/s at 16 in flight in front of two rtpproxy',
    );
    console.error(
      `bench:e2e rtp-side: machine ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load avg now ${loadavg()
        .map((l) => fmt(l, 2))
        .join(' ')}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
