/**
 * Client → server round trips over UDP loopback with 16 commands in flight, with p50/p99 latency.
 * Two set-ups: server in the same process as the client (one core for both), and server in a
 * child process (`node dist/bench/transport.js --serve`). The command is a typical Kamailio U;
 * the handler answers a port reply at once, so the figure is the transport's own cost.
 *
 * Run with `npm run bench -w @sipedge/rtpp` (all benches) or `node dist/bench/run.js transport`.
 */
import { fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { RtppClient, type RtppReply, RtppServer } from '../src/index.js';

const U = 'Uc0,8,101 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1';
const REPLY: RtppReply = {
  kind: 'port',
  port: 35000,
  address: '127.0.0.1',
  ipv6: false,
  subResults: [],
};
const IN_FLIGHT = 16;

async function startServer(): Promise<RtppServer> {
  const server = new RtppServer({ sockets: ['udp:127.0.0.1:0'], handler: () => REPLY });
  await server.start();
  return server;
}

interface Figures {
  roundTripsPerSec: number;
  /** Round trips per second of CPU time used by client and server together. */
  roundTripsPerCpuSec: number;
  p50Ms: number;
  p99Ms: number;
  retransmits: number;
  timeouts: number;
}

/** CPU time (µs) used so far by the server side when it runs elsewhere. */
type CpuProbe = () => Promise<number>;

const ownCpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function drive(spec: string, seconds: number, serverCpu?: CpuProbe): Promise<Figures> {
  const client = new RtppClient({ socket: spec, timeoutMs: 3000 });
  const lat = new Float64Array(4_000_000);
  let n = 0;
  let recording = false;
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      const r = await client.send(U);
      if (r.kind !== 'port') throw new Error(`unexpected reply ${JSON.stringify(r)}`);
      if (recording && n < lat.length) lat[n++] = performance.now() - t0;
    }
  };
  const workers = Array.from({ length: IN_FLIGHT }, worker);
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  const before = client.stats();
  const cpu0 = ownCpu() + (serverCpu === undefined ? 0 : await serverCpu());
  recording = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  recording = false;
  const elapsed = (performance.now() - start) / 1000;
  const count = n;
  const cpu1 = ownCpu() + (serverCpu === undefined ? 0 : await serverCpu());
  stop = true;
  await Promise.all(workers);
  const after = client.stats();
  client.destroy();
  const sorted = lat.subarray(0, count).sort();
  return {
    roundTripsPerSec: count / elapsed,
    roundTripsPerCpuSec: count / ((cpu1 - cpu0) / 1e6),
    p50Ms: sorted[Math.floor(count * 0.5)] ?? Number.NaN,
    p99Ms: sorted[Math.floor(count * 0.99)] ?? Number.NaN,
    retransmits: after.retransmits - before.retransmits,
    timeouts: after.timeouts - before.timeouts,
  };
}

function print(name: string, f: Figures): void {
  console.log(
    `${name}: ${Math.round(f.roundTripsPerSec).toLocaleString('en-US')} round trips/s ` +
      `(${Math.round(f.roundTripsPerCpuSec).toLocaleString('en-US')} per CPU-second), ` +
      `p50 ${f.p50Ms.toFixed(3)} ms, p99 ${f.p99Ms.toFixed(3)} ms ` +
      `(${IN_FLIGHT} in flight; ${f.retransmits} retransmits, ${f.timeouts} timeouts)`,
  );
}

export async function run(): Promise<Record<string, number>> {
  const seconds = Number(process.env.RTPP_BENCH_SECONDS ?? 3);
  // wall-clock figures depend on what else runs: say so next to them
  console.log(
    `transport bench: ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(2)} before the run`,
  );
  const server = await startServer();
  const inProcess = await drive(server.addresses()[0]!.spec, seconds);
  server.destroy();
  print('transport udp client→server, same process', inProcess);

  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: 'inherit' });
  try {
    const spec = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('bench server did not start')), 10_000);
      child.once('message', (m) => {
        clearTimeout(t);
        resolve(String(m));
      });
      child.once('exit', (code) => reject(new Error(`bench server exited ${code}`)));
    });
    const serverCpu: CpuProbe = () =>
      new Promise<number>((resolve) => {
        child.once('message', (m) => resolve(Number(m)));
        child.send('cpu');
      });
    const twoProc = await drive(spec, seconds, serverCpu);
    print('transport udp client→server, server in a child process', twoProc);
    return {
      sameProcessRoundTripsPerSec: inProcess.roundTripsPerSec,
      sameProcessP50Ms: inProcess.p50Ms,
      sameProcessP99Ms: inProcess.p99Ms,
      sameProcessRoundTripsPerCpuSec: inProcess.roundTripsPerCpuSec,
      childProcessRoundTripsPerCpuSec: twoProc.roundTripsPerCpuSec,
      childProcessRoundTripsPerSec: twoProc.roundTripsPerSec,
      childProcessP50Ms: twoProc.p50Ms,
      childProcessP99Ms: twoProc.p99Ms,
    };
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
  }
}

// `node dist/bench/transport.js --serve`: the child process side
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--serve') {
  const server = await startServer();
  process.send?.(server.addresses()[0]!.spec);
  process.on('message', (m) => {
    if (m === 'cpu') process.send?.(String(ownCpu()));
  });
  process.on('SIGTERM', () => {
    server.destroy();
    process.exit(0);
  });
  process.on('disconnect', () => {
    server.destroy();
    process.exit(0);
  });
}
