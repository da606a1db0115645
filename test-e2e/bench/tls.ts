/**
 * `npm run bench:tls -w @sipedge/test-e2e`: REGISTERs/s through one cluster-node over UDP,
 * TCP and TLS, the same sipp scenario, rounds alternating (UDP, TCP, TLS, UDP, …) so that a
 * drift of the machine hits every transport alike. Debian's sipp has no TLS: the TLS rows are
 * sipp over TCP into a local stunnel that speaks TLS to the node, so they include stunnel's
 * own CPU on the same cores (an upper bound on the node's TLS cost). Prints a markdown table.
 *
 * BENCH_TLS_REGISTERS (default 20000) per round, BENCH_TLS_ROUNDS (default 2) per transport.
 */
import { cpus } from 'node:os';
import { requirePeer, SIPP } from '@sipedge/test-utils';
import {
  type Address,
  makeClusterPki,
  type SippFigures,
  sippRegisterRun,
  startCluster,
  startStunnel,
} from '../src/index.js';

const COUNT = Number(process.env.BENCH_TLS_REGISTERS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_TLS_ROUNDS ?? 2);
const RATE = 40_000; // above what the node sustains: a capacity, not a cap
const LIMIT = 200;
const LOAD = { count: COUNT, rate: RATE, limit: LIMIT };

async function main(): Promise<void> {
  requirePeer(SIPP);
  await using cluster = await startCluster({
    nodes: 1,
    proxy: false,
    start: [],
    logLevel: 'warn',
    configure: (c) => {
      c.storage = { file: ':memory:' };
      (c.sip as Record<string, unknown>).nat_ping = { enabled: false };
      c.sip.listeners.push({ proto: 'tls', address: '127.0.0.1:0' });
    },
  });
  const pki = makeClusterPki(cluster.dir, ['n1']);
  const node = cluster.node(1);
  node.config.tls = pki.section('n1');
  await node.start();
  const tunnel = await startStunnel(cluster.dir, 'bench', {
    connect: node.sip.get('tls')!.port,
    caFile: pki.ca.certificate,
  });
  const targets: Record<string, { to: Address; t: 'u1' | 't1' }> = {
    UDP: { to: node.sipUdp!, t: 'u1' },
    TCP: { to: node.sipTcp!, t: 't1' },
    'TLS (stunnel)': { to: { host: '127.0.0.1', port: tunnel.port }, t: 't1' },
  };
  const results = new Map<string, SippFigures[]>();
  try {
    // warm-up: every path once, small
    for (const [name, x] of Object.entries(targets)) {
      await sippRegisterRun(cluster.dir, x.to, {
        ...LOAD,
        prefix: `w${name.slice(0, 3)}`,
        transport: x.t,
      });
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, x] of Object.entries(targets)) {
        const round = await sippRegisterRun(cluster.dir, x.to, {
          ...LOAD,
          prefix: `r${r}${name.slice(0, 3)}`,
          transport: x.t,
        });
        console.error(`  round ${r + 1} ${name}: ${Math.round(round.ok / round.seconds)}/s`);
        results.set(name, [...(results.get(name) ?? []), round]);
      }
    }
  } finally {
    await tunnel.proc.stop();
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\n### REGISTER over TLS vs UDP (${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpu}, Node ${process.version})\n`,
  );
  console.log(
    `${ROUNDS} alternating rounds of ${COUNT} new REGISTERs per transport, sipp -r ${RATE} -l ${LIMIT}, one cluster-node (usrloc in memory)\n`,
  );
  console.log('| transport | REGISTER/s per round | mean | failed |\n| --- | --- | --- | --- |');
  const udp = mean(results.get('UDP') ?? []);
  for (const [name, rounds] of results) {
    const m = mean(rounds);
    const ratio = name === 'UDP' || udp === 0 ? '' : ` (${(m / udp).toFixed(2)}× UDP)`;
    console.log(
      `| ${name} | ${rounds.map((r) => Math.round(r.ok / r.seconds)).join(', ')} | ${Math.round(m)}${ratio} | ${rounds.reduce((n, r) => n + r.failed, 0)} |`,
    );
  }
}

function mean(rounds: SippFigures[]): number {
  if (rounds.length === 0) return 0;
  return rounds.reduce((n, r) => n + r.ok / r.seconds, 0) / rounds.length;
}

await main();
