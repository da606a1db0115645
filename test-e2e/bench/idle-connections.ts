/**
 * Memory a cluster-node holds for idle SIP TCP connections: one node, its RSS (from /proc) and
 * V8 heap (its own /metrics) before and after BENCH_CONNECTIONS (default 4,096) idle
 * connections from 64 loopback source addresses, and the cost per connection.
 *
 *   npx tsc -b test-e2e && node test-e2e/dist/bench/idle-connections.js
 */
import { readFileSync } from 'node:fs';
import { until } from '@sipedge/test-utils';
import { Attack } from '../src/hostile.js';
import { startCluster } from '../src/index.js';

const COUNT = Number(process.env.BENCH_CONNECTIONS ?? 4096);
const SOURCES = 64;

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? Number.NaN) * 1024;
}

async function heapUsed(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  return Number(m?.[1] ?? Number.NaN);
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const settle = () => new Promise((r) => setTimeout(r, 3000));

async function main(): Promise<void> {
  await using cluster = await startCluster({
    nodes: 1,
    logLevel: 'warn',
    configure: (c) => {
      c.metrics = { enabled: true, port: 0 };
      Object.assign(c.sip, {
        max_connections: Math.max(4096, COUNT),
        tcp_accept_iplimit: Math.ceil(COUNT / SOURCES),
        tcp_connection_lifetime: 0,
      });
    },
  });
  const node = cluster.node(1);
  const metricsUrl = /cluster-node\[n1\]: metrics (\S+)/.exec(node.output())?.[1];
  if (metricsUrl === undefined) throw new Error('the node printed no metrics url');
  await settle();
  const before = { rss: rssBytes(node.pid), heap: await heapUsed(metricsUrl) };
  using attack = new Attack();
  const perSource = Math.ceil(COUNT / SOURCES);
  for (let s = 1; s <= SOURCES; s++) {
    const left = COUNT - (s - 1) * perSource;
    if (left > 0) await attack.connect(node.sipTcp!, `127.0.4.${s}`, Math.min(perSource, left));
  }
  await until(
    async () => {
      const st = await node.call<Record<string, number>>('get_statistics', [['sip:connections']]);
      return st['sip:connections'] === COUNT;
    },
    { what: `${COUNT} connections held`, timeoutMs: 30_000 },
  );
  await settle();
  const after = { rss: rssBytes(node.pid), heap: await heapUsed(metricsUrl) };
  const per = (a: number, b: number) => `${((b - a) / COUNT / 1024).toFixed(1)} KiB`;
  console.log(`cluster-node memory, ${COUNT.toLocaleString('en-US')} idle SIP TCP connections`);
  console.log('| | before | after | per connection |');
  console.log('| --- | --- | --- | --- |');
  console.log(`| RSS | ${mib(before.rss)} | ${mib(after.rss)} | ${per(before.rss, after.rss)} |`);
  console.log(
    `| V8 heap used | ${mib(before.heap)} | ${mib(after.heap)} | ${per(before.heap, after.heap)} |`,
  );
}

await main();
