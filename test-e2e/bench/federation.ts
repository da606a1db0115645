/**
 * Federation figures (`BENCH_ONLY=federation`): what the presence publisher costs and gives,
 * on a six-instance Redis Cluster on loopback.
 *
 * - REGISTER/s through one cluster-node with federation on (it is its site's writer: every new
 *   AoR is published) and off, same sipp load, three runs each, alternated;
 * - presence updates/s a site publishes: `ul_federation_resync` of every AoR the runs left,
 *   timed until the queue is empty;
 * - call setup (INVITE → 200) placed at site B for a UA registered at site B (local) and at site
 *   A (one federation hop, the lookup cache off so every call reads Redis): p50/p99 of each and
 *   of the difference, the latency a cross-site lookup adds.
 */
import { peerPort, startRedisCluster, until } from '@sipedge/test-utils';
import type { Cluster } from '../src/cluster.js';
import {
  type Address,
  type E2eNode,
  type SippFigures,
  SipUdpUa,
  sippRegisterRun,
  startCluster,
} from '../src/index.js';

type Row = (...cells: string[]) => void;

const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

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

async function registerRate(row: Row, store: readonly string[]): Promise<void> {
  const load = `${fmt(REG.count)} new REGISTERs per run, sipp -r ${REG.rate} -l ${REG.limit}, UDP`;
  const figures: Record<'on' | 'off', SippFigures[]> = { on: [], off: [] };
  let last: { node: E2eNode; cluster: Cluster } | undefined;
  for (let run = 0; run < 3; run++) {
    for (const mode of ['off', 'on'] as const) {
      const cluster = await oneNode(mode === 'on' ? store : undefined);
      const node = cluster.node(1);
      await sippRegisterRun(cluster.dir, node.sipUdp!, { ...REG, count: 2000, prefix: 'w' });
      const f = await sippRegisterRun(cluster.dir, node.sipUdp!, { ...REG, prefix: `r${run}` });
      figures[mode].push(f);
      console.error(`    run ${run + 1} federation ${mode}: ${fmt(f.rate)}/s (${f.failed} failed)`);
      if (mode === 'on' && run === 2) last = { node, cluster };
      else await cluster[Symbol.asyncDispose]();
    }
  }
  const mean = (fs: SippFigures[]): number => fs.reduce((a, f) => a + f.rate, 0) / fs.length;
  const runs = (fs: SippFigures[]): string => fs.map((f) => fmt(f.rate)).join(', ');
  row(
    'REGISTER/s, one node, federation off',
    `${fmt(mean(figures.off))}/s (runs ${runs(figures.off)})`,
    load,
  );
  row(
    'REGISTER/s, one node, federation on (site writer)',
    `${fmt(mean(figures.on))}/s (runs ${runs(figures.on)})`,
    load,
  );
  row('ratio on / off', `${fmt(mean(figures.on) / mean(figures.off), 2)}x`, 'target ≥ 0.90x');

  // presence updates/s: every AoR the node holds, written again by a resync
  if (last === undefined) return;
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
    await registerRate(row, redis.nodes.slice(0, 3));
    await lookupLatency(row, redis.nodes.slice(0, 3));
  } finally {
    await redis.stop();
  }
}
