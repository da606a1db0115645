/**
 * U+D pairs per second through the balancer and straight to the same member, in one run, with
 * the latency the balancer adds. The member is a sipedge-rtp-relay process, the balancer an
 * rtp-cluster process, the load generator this process (16 pairs in flight; BENCH_IN_FLIGHT changes it).
 * Run with `npm run bench -w @sipedge/rtp-cluster-daemon`.
 *
 * Fairness: every side loads the same relay process with the same number of pairs in flight,
 * from the same process, with one client each; the sides take turns in one-second slices (the
 * order rotates every round) so that drift in a shared machine's load hits all alike. A third
 * side goes through a bare forwarding hop (bench/forwarder.ts: cookie rewrite only): it shows
 * what one more Node.js process on the path costs by itself, the ceiling of any balancer written
 * in Node.js on this machine. For each side the CPU time of every process (this one, the
 * balancer, the hop, the relay; from /proc) and the machine's busy share are reported, per
 * second and per pair, so a reader can tell whether the machine was saturated and where the
 * time went.
 */

import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RtppClient } from '@sipedge/rtpp';
import { cpuSeconds, type Proc, runProcess, within } from '@sipedge/test-utils';
import { DAEMON_NODE_FLAGS } from '../src/options.js';
import { DAEMON_BIN, startProcess, startRelay } from '../test/processes.js';

const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 16);
/** Node flags of the balancer: its #! line's (DAEMON_NODE_FLAGS) unless BENCH_DAEMON_FLAGS says. */
const DAEMON_FLAGS =
  process.env.BENCH_DAEMON_FLAGS === undefined
    ? [...DAEMON_NODE_FLAGS]
    : process.env.BENCH_DAEMON_FLAGS.split(' ').filter((f) => f !== '');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

/** Busy and total CPU seconds of the whole machine so far (/proc/stat, all cores). */
function machineCpu(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) / 100, total: total / 100 };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

interface CpuSample {
  client: number;
  balancer: number;
  hop: number;
  relay: number;
  machineBusy: number;
  machineTotal: number;
}

let pids = { balancer: 0, hop: 0, relay: 0 };

function sampleCpu(): CpuSample {
  const u = process.cpuUsage();
  const m = machineCpu();
  return {
    client: (u.user + u.system) / 1e6,
    balancer: cpuSeconds(pids.balancer),
    hop: cpuSeconds(pids.hop),
    relay: cpuSeconds(pids.relay),
    machineBusy: m.busy,
    machineTotal: m.total,
  };
}

function cpuDelta(a: CpuSample, b: CpuSample): CpuSample {
  return {
    client: b.client - a.client,
    balancer: b.balancer - a.balancer,
    hop: b.hop - a.hop,
    relay: b.relay - a.relay,
    machineBusy: b.machineBusy - a.machineBusy,
    machineTotal: b.machineTotal - a.machineTotal,
  };
}

interface Result {
  cpu: CpuSample;
  pairs: number;
  pairsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  seconds: number;
  latencies: number[];
}

function quantile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

/** Several slices as one measurement: pairs over total time, quantiles over all latencies. */
function merge(parts: Result[]): Result {
  const latencies = parts.flatMap((p) => p.latencies).sort((a, b) => a - b);
  const pairs = parts.reduce((n, p) => n + p.pairs, 0);
  const seconds = parts.reduce((n, p) => n + p.seconds, 0);
  const cpu = parts.reduce(
    (sum, p) => ({
      client: sum.client + p.cpu.client,
      balancer: sum.balancer + p.cpu.balancer,
      hop: sum.hop + p.cpu.hop,
      relay: sum.relay + p.cpu.relay,
      machineBusy: sum.machineBusy + p.cpu.machineBusy,
      machineTotal: sum.machineTotal + p.cpu.machineTotal,
    }),
    { client: 0, balancer: 0, hop: 0, relay: 0, machineBusy: 0, machineTotal: 0 },
  );
  return {
    cpu,
    pairs,
    pairsPerSec: pairs / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    errors: parts.reduce((n, p) => n + p.errors, 0),
    seconds,
    latencies,
  };
}

/** One side's slice as a Result: rate, latency quantiles and CPU since `cpu0`/`start`. */
function result(
  cpu0: ReturnType<typeof sampleCpu>,
  start: number,
  pairs: number,
  errors: number,
  latencies: number[],
): Result {
  const elapsed = (performance.now() - start) / 1000;
  const cpu = cpuDelta(cpu0, sampleCpu());
  latencies.sort((a, b) => a - b);
  return {
    cpu,
    pairs,
    pairsPerSec: pairs / elapsed,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    errors,
    seconds: elapsed,
    latencies,
  };
}

/**
 * The load generator's side of a target: `RtppClient` (the default; BENCH_CLIENT=rtpp), or
 * with BENCH_CLIENT=raw a bare datagram socket that writes the commands and reads only the
 * cookie and the first byte of each reply — closer to what a SIP proxy's C module costs per
 * command, so that less of the two cores goes to the load generator itself.
 */
interface Target {
  readonly client: RtppClient;
  readonly host: string;
  readonly port: number;
}

const RAW = process.env.BENCH_CLIENT === 'raw';

function load(target: Target, tag: string, seconds: number): Promise<Result> {
  return RAW ? rawLoad(target, tag, seconds) : clientLoad(target.client, tag, seconds);
}

async function rawLoad(target: Target, tag: string, seconds: number): Promise<Result> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.connect(target.port, target.host, () => r()));
  const latencies: number[] = [];
  let pairs = 0;
  let errors = 0;
  let seq = 0;
  /** cookie → the call and when its command went out (each command has its own cookie). */
  const out = new Map<string, { id: string; d: boolean; t: number }>();
  const cpu0 = sampleCpu();
  const start = performance.now();
  const end = start + seconds * 1000;
  const sendU = (): void => {
    const id = `${tag}-${seq}`;
    const cookie = `${tag}u${seq++}`;
    out.set(cookie, { id, d: false, t: performance.now() });
    sock.send(`${cookie} U ${id} 127.0.0.1 7000 f;1`);
  };
  await new Promise<void>((resolve) => {
    let active = IN_FLIGHT;
    const retire = (): void => {
      if (--active === 0) resolve();
    };
    // a lost datagram: count it and start another call in its slot
    const sweep = setInterval(() => {
      const now = performance.now();
      for (const [cookie, o] of out)
        if (now - o.t > 3000) {
          out.delete(cookie);
          errors++;
          if (now < end) sendU();
          else retire();
        }
    }, 500);
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
        if (first === undefined || first < 48 || first > 57) errors++; // not a port
        const dCookie = `${tag}d${seq++}`;
        out.set(dCookie, { id: o.id, d: true, t: now });
        sock.send(`${dCookie} D ${o.id} f`);
        return;
      }
      if (first === 69) errors++; // E…
      pairs++;
      if (now < end) sendU();
      else retire();
    });
    for (let i = 0; i < IN_FLIGHT; i++) sendU();
    sock.once('close', () => clearInterval(sweep));
  });
  sock.close();
  return result(cpu0, start, pairs, errors, latencies);
}

async function clientLoad(client: RtppClient, tag: string, seconds: number): Promise<Result> {
  const latencies: number[] = [];
  let pairs = 0;
  let errors = 0;
  let seq = 0;
  const cpu0 = sampleCpu();
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < end) {
        const id = `${tag}-${seq++}`;
        const t0 = performance.now();
        try {
          const u = await client.send(`U ${id} 127.0.0.1 7000 f;1`);
          const t1 = performance.now();
          const d = await client.send(`D ${id} f`);
          const t2 = performance.now();
          latencies.push(t1 - t0, t2 - t1);
          if (u.kind !== 'port' || d.kind === 'error') errors++;
          pairs++;
        } catch {
          errors++;
        }
      }
    }),
  );
  return result(cpu0, start, pairs, errors, latencies);
}

const dir = mkdtempSync(join(tmpdir(), 'rtpc-bench-'));
const relay = await startRelay(20000, 59998);
writeFileSync(
  join(dir, 'rtp_cluster.xml'),
  `<rtp_cluster_config><rtp_cluster><name>bench</name><protocol>udp</protocol><address>127.0.0.1:0</address>
  <rtpproxy><name>r1</name><protocol>udp</protocol><address>${relay.spec.slice(4)}</address><weight>1</weight><capacity>100000</capacity><status>ACTIVE</status></rtpproxy>
  </rtp_cluster></rtp_cluster_config>`,
);
/** The daemon as its #! line starts it: node with DAEMON_FLAGS. */
async function startDaemonProcess(args: string[]): Promise<Proc> {
  const p = runProcess(process.execPath, [...DAEMON_FLAGS, DAEMON_BIN, ...args]);
  const ready = await within<boolean>(15_000, 'rtp-cluster to be ready', (done) => {
    const timer = setInterval(() => {
      if (/rtp-cluster: ready/.test(p.output())) done(true);
    }, 20);
    void p.exit.then(() => done(false));
    return () => clearInterval(timer);
  });
  if (!ready) throw new Error(`rtp-cluster exited before it was ready:\n${p.output()}`);
  return p;
}

const daemon = await startDaemonProcess([
  '-f',
  '-c',
  join(dir, 'rtp_cluster.xml'),
  '-s',
  join(dir, 'a.sock'),
  '-P',
  join(dir, 'pid'),
  '--state-db',
  // BENCH_STATE_DB='' measures without the SQLite call store
  process.env.BENCH_STATE_DB ?? join(dir, 's.sqlite'),
  '--log-level',
  'warn',
]);
// the balancer's control port was left to the OS (port 0): read it from the output
const port = Number(/cluster bench listening on udp:127\.0\.0\.1:(\d+)/.exec(daemon.output())?.[1]);
const hop = await startProcess(
  fileURLToPath(new URL('./forwarder.js', import.meta.url)),
  ['127.0.0.1', relay.spec.slice(relay.spec.lastIndexOf(':') + 1)],
  /forwarder ready port=(\d+)/,
);
pids = { balancer: daemon.pid, hop: hop.pid, relay: relay.pid };
const loadBefore = loadavg();
try {
  const direct = new RtppClient({ socket: relay.spec, timeoutMs: 3000 });
  const through = new RtppClient({ socket: `udp:127.0.0.1:${port}`, timeoutMs: 3000 });
  // wait until the balancer has its member online
  for (let i = 0; i < 100; i++) {
    const r = await through.send('U warm 127.0.0.1 7000 f;1');
    if (r.kind === 'port') break;
    await new Promise((res) => setTimeout(res, 100));
  }
  await through.send('D warm f');
  const viaHop = new RtppClient({ socket: `udp:127.0.0.1:${hop.ready}`, timeoutMs: 3000 });
  const hostPort = (spec: string): { host: string; port: number } => {
    const i = spec.lastIndexOf(':');
    return { host: spec.slice(spec.indexOf(':') + 1, i), port: Number(spec.slice(i + 1)) };
  };
  const sides: { name: string; client: Target }[] = [
    { name: 'direct', client: { client: direct, ...hostPort(relay.spec) } },
    { name: 'hop', client: { client: viaHop, ...hostPort(`udp:127.0.0.1:${hop.ready}`) } },
    { name: 'through', client: { client: through, ...hostPort(`udp:127.0.0.1:${port}`) } },
  ];
  for (const side of sides) await load(side.client, `warm-${side.name}`, 1);
  // one-second slices, the order rotating every round, so that drift in the machine's load
  // (it is shared) hits every side alike
  const rounds = Math.max(1, Math.round(SECONDS));
  const results = new Map<string, Result[]>(sides.map((side) => [side.name, []]));
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(i + k) % sides.length]!;
      results.get(side.name)!.push(await load(side.client, `${side.name}-${i}`, 1));
    }
  }
  const d = merge(results.get('direct')!);
  const h = merge(results.get('hop')!);
  const t = merge(results.get('through')!);
  const fmt = (r: Result) =>
    `${Math.round(r.pairsPerSec).toLocaleString('en-US')} U+D pairs/s, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms per command, ${r.errors} errors`;
  // CPU: share of one core over the side's slices, and microseconds per U+D pair
  const cpuFmt = (r: Result, middle: 'balancer' | 'hop' | undefined) => {
    const part = (name: string, s: number) =>
      `${name} ${Math.round((100 * s) / r.seconds)}% (${Math.round((1e6 * s) / r.pairs)} µs/pair)`;
    const parts = [part('client', r.cpu.client)];
    if (middle !== undefined) parts.push(part(middle, r.cpu[middle]));
    parts.push(part('relay', r.cpu.relay));
    const machine = `machine ${Math.round((100 * r.cpu.machineBusy) / r.cpu.machineTotal)}% busy of ${cpus().length} cores`;
    return `${parts.join(', ')}; ${machine}`;
  };
  const avg = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const vs = (a: Result, b: Result) =>
    `ratio ${(a.pairsPerSec / b.pairsPerSec).toFixed(2)}x; added latency p50 ${(a.p50 - b.p50).toFixed(3)} ms, p99 ${(a.p99 - b.p99).toFixed(3)} ms`;
  console.log(
    `rtp-cluster: ${IN_FLIGHT} pairs in flight, ${RAW ? 'raw datagram' : 'RtppClient'} load generator, ${rounds} slices of 1 s per side; balancer node flags: ${DAEMON_FLAGS.join(' ') || 'none'}; load average before ${avg(loadBefore)}, after ${avg(loadavg())}`,
  );
  console.log(`rtp-cluster: direct to relay:      ${fmt(d)}`);
  console.log(`rtp-cluster: through a bare hop:   ${fmt(h)}`);
  console.log(`rtp-cluster: through the balancer: ${fmt(t)}`);
  console.log(`rtp-cluster: balancer vs direct: ${vs(t, d)}`);
  console.log(`rtp-cluster: bare hop vs direct: ${vs(h, d)} (the ceiling for a Node.js hop here)`);
  console.log(`rtp-cluster: CPU direct:   ${cpuFmt(d, undefined)}`);
  console.log(`rtp-cluster: CPU bare hop: ${cpuFmt(h, 'hop')}`);
  console.log(`rtp-cluster: CPU balancer: ${cpuFmt(t, 'balancer')}`);
  await direct.close();
  await viaHop.close();
  await through.close();
} finally {
  await hop.stop();
  await daemon.stop();
  await relay.stop();
  rmSync(dir, { recursive: true, force: true });
}
