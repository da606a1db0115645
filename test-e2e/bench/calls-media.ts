/**
 * `BENCH_ONLY=calls-media`: sipp calls per second with SDP, INVITE to BYE, through Kamailio 5.6
 * anchoring media with its rtpproxy module, in two set-ups over the same two sippy rtpproxy
 * members (RTPPROXY_BIN):
 *
 * - Kamailio's own rtpproxy set: both members in `rtpproxy_sock`, the module balances;
 * - Kamailio → a cluster-node's rtp control socket → the two members (the node balances).
 *
 * Both Kamailios (children=2 each) and one sipp UAS run throughout; the sides take turns, a sipp
 * UAC run of BENCH_CALLS calls each, the order rotating every round (BENCH_CALL_ROUNDS, 3), so
 * drift in a shared machine's load hits both alike. Calls/s is successful calls over the UAC's
 * wall time; CPU per call is summed over Kamailio's processes, the node and the members.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cpuSeconds,
  groupCpuSeconds,
  kamailioRtpproxyConfig,
  type Proc,
  peerPort,
  requirePeer,
  runProcess,
  SIPP,
  SIPP_UAC,
  SIPP_UAS,
  sippMediaPort,
  waitUdpBound,
} from '@sipedge/test-utils';
import { sippFinalStats, startKamailioBench, stopOnExit } from '../src/index.js';
import { fmt } from './format.js';
import { startBalancerNode, startRtpproxy } from './rtp-processes.js';
import type { Row } from './rtp-side.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 6000);
const RATE = Number(process.env.BENCH_CALL_RATE ?? 5000);
const LIMIT = Number(process.env.BENCH_CALL_LIMIT ?? 100);
const ROUNDS = Number(process.env.BENCH_CALL_ROUNDS ?? 3);

interface CallRun {
  ok: number;
  failed: number;
  seconds: number;
  kamailio: number;
  node: number;
  members: number;
}

/** One sipp UAC run of `count` calls into Kamailio on `port`; figures from its stat file. */
async function uacRun(
  dir: string,
  port: number,
  tag: string,
  count: number,
  cpu: () => { kamailio: number; node: number; members: number },
): Promise<CallRun> {
  const stat = join(dir, `stat-${tag}.csv`);
  const c0 = cpu();
  const started = process.hrtime.bigint();
  const p = runProcess(
    SIPP,
    [
      '-sf',
      SIPP_UAC,
      '-i',
      '127.0.0.1',
      '-p',
      String(await peerPort()),
      '-mp',
      String(await sippMediaPort()),
      '-m',
      String(count),
      '-r',
      String(RATE),
      '-l',
      String(LIMIT),
      '-nostdin',
      '-trace_stat',
      '-stf',
      stat,
      '-fd',
      '1',
      '-buff_size',
      '4194304',
      // a call whose message is lost under load (seen: a 200 to BYE that Kamailio never
      // relays) ends as failed after 2 s instead of holding the run for 30 s of retransmits
      '-recv_timeout',
      '2000',
      `127.0.0.1:${port}`,
    ],
    { cwd: dir },
  );
  stopOnExit(p);
  await p.exit;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const c1 = cpu();
  const col = sippFinalStats(stat);
  return {
    ok: col('SuccessfulCall(C)'),
    failed: col('FailedCall(C)'),
    seconds,
    kamailio: c1.kamailio - c0.kamailio,
    node: c1.node - c0.node,
    members: c1.members - c0.members,
  };
}

export async function benchCallsMedia(row: Row): Promise<void> {
  const bin = process.env.RTPPROXY_BIN;
  if (bin === undefined || bin === '') {
    const banner = '!'.repeat(78);
    console.error(
      `${banner}\n!!! RTPPROXY_BIN is not set: the calls-with-media rows were NOT RUN\n${banner}`,
    );
    row('calls-media (Kamailio + rtpproxy members)', '**NOT RUN** (RTPPROXY_BIN not set)', '—');
    return;
  }
  requirePeer(SIPP);
  const dir = mkdtempSync(join(tmpdir(), 'bench-calls-'));
  const procs: Proc[] = [];
  try {
    const a = await startRtpproxy(bin, dir, 'rtpproxy1', [34_000, 43_999]);
    procs.push(a);
    const b = await startRtpproxy(bin, dir, 'rtpproxy2', [44_000, 53_999]);
    procs.push(b);
    await using cluster = await startBalancerNode([
      { name: 'rtpproxy1', spec: a.spec },
      { name: 'rtpproxy2', spec: b.spec },
    ]);
    const node = cluster.node(1);
    const uasPort = await peerPort();
    const uas = runProcess(
      SIPP,
      [
        '-sf',
        SIPP_UAS,
        '-i',
        '127.0.0.1',
        '-p',
        String(uasPort),
        '-mp',
        String(await sippMediaPort()),
        '-nostdin',
        '-buff_size',
        '4194304',
      ],
      { cwd: dir },
    );
    stopOnExit(uas);
    procs.push(uas);
    await waitUdpBound(uasPort, 10_000);
    const sides: Array<{ name: string; port: number; kamailio: Proc }> = [];
    for (const [name, sock] of [
      ['Kamailio rtpproxy set (2 members)', `udp:127.0.0.1:${a.port} udp:127.0.0.1:${b.port}`],
      ['Kamailio → cluster-node balancer → 2 members', node.rtpControl ?? ''],
    ] as const) {
      const sub = join(dir, `k${sides.length}`);
      mkdirSync(sub);
      const port = await peerPort();
      writeFileSync(
        join(sub, 'k.cfg'),
        kamailioRtpproxyConfig({
          sipPort: port,
          rtpproxySock: sock,
          uasPort,
          children: 2,
          debug: 1,
        }),
      );
      const k = await startKamailioBench(sub, join(sub, 'k.cfg'), 512);
      stopOnExit(k, true);
      procs.push(k);
      await waitUdpBound(port, 15_000);
      sides.push({ name, port, kamailio: k });
    }
    const runs = new Map<string, CallRun[]>(sides.map((s) => [s.name, []]));
    const load0 = loadavg()[0] ?? 0;
    for (const [i, side] of sides.entries()) {
      // warm-up: Kamailio's children ping the members, the node's JIT settles
      await uacRun(dir, side.port, `warm${i}`, Math.min(500, CALLS), () => ({
        kamailio: 0,
        node: 0,
        members: 0,
      }));
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(r + k) % sides.length]!;
        const cpu = () => ({
          kamailio: groupCpuSeconds(side.kamailio.pid),
          node: cpuSeconds(node.pid),
          members: cpuSeconds(a.pid) + cpuSeconds(b.pid),
        });
        runs.get(side.name)!.push(await uacRun(dir, side.port, `r${r}s${k}`, CALLS, cpu));
      }
    }
    const load = `${fmt(CALLS)} calls per run (sipp -r ${RATE} -l ${LIMIT}, INVITE with SDP → 200 with SDP → ACK → BYE; a call silent 2 s fails), ${ROUNDS} runs per side alternating; Kamailio 5.6 children=2; load avg ${fmt(load0, 2)}`;
    const rates = new Map<string, number>();
    for (const side of sides) {
      const rs = runs.get(side.name)!;
      const sum = (f: (x: CallRun) => number): number => rs.reduce((n, x) => n + f(x), 0);
      const ok = sum((x) => x.ok);
      const rate = ok / sum((x) => x.seconds);
      rates.set(side.name, rate);
      const per = (s: number): string => fmt((1e6 * s) / Math.max(1, ok));
      const each = rs.map((x) => fmt(x.ok / x.seconds)).join(', ');
      row(
        `calls/s with media: ${side.name}`,
        `${fmt(rate)}/s (runs ${each}; ${fmt(sum((x) => x.failed))} failed); CPU µs/call: Kamailio ${per(sum((x) => x.kamailio))}, node ${per(sum((x) => x.node))}, members ${per(sum((x) => x.members))}`,
        load,
      );
    }
    const own = rates.get(sides[0]!.name) ?? Number.NaN;
    const via = rates.get(sides[1]!.name) ?? Number.NaN;
    row(
      'ratio via cluster-node / Kamailio rtpproxy set',
      `**${fmt(via / own, 2)}×**`,
      'target ≥ 0.9×',
    );
  } finally {
    for (const p of procs.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
