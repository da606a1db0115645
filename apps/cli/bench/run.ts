/**
 * CLI figures: wall time of one `sipedge mi uptime` process against a local server (what a
 * script calling the CLI in a loop pays), and the speed of rendering a 1000-row table.
 * BENCH_RUNS sets the number of processes (default 20).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createMiCore, MiServer } from '@sipedge/mi';
import { render } from '../src/render.js';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const bin = join(import.meta.dirname, '..', 'src', 'bin.js');

function pct(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const core = createMiCore({ eventSockets: false });
  const server = new MiServer({ registry: core.registry, port: 0 });
  await server.start();
  try {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await run(process.execPath, [bin, 'mi', 'uptime', '--url', server.url]);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    console.log(
      `sipedge mi uptime (process start to exit)   p50 ${pct(times, 0.5).toFixed(1)} ms   p99 ${pct(times, 0.99).toFixed(1)} ms   (${RUNS} runs)`,
    );
  } finally {
    await server.stop();
  }
  const rows = Array.from({ length: 1000 }, (_, i) => ({
    node_id: i,
    db_id: -1,
    url: `bin:10.0.${i >> 8}.${i & 255}:5566`,
    link_state: i % 3 === 0 ? 'Down' : 'Up',
    state: 'enabled',
    next_hop: String(i),
    description: 'none',
  }));
  const n = 200;
  const t0 = performance.now();
  let chars = 0;
  for (let i = 0; i < n; i++)
    chars += render({ Clusters: [{ cluster_id: 1, Nodes: rows }] }).length;
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `render 1000-row table                        ${Math.round((n * 1000) / secs)} rows/s   (${chars} chars total)`,
  );
}

await main();
