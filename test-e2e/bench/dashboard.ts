/**
 * The dashboard's Registrations view against a node holding 100,000 AoRs: sipp registers
 * BENCH_AORS (default 100,000) users at one node, then Debian's chromium opens
 * `#registrations` three times in fresh contexts and reads the page's own performance mark
 * (`sipedge:registrations-rendered`, set when the first page of results is on screen) against
 * navigation start. Also times `ul_search` over MI for the first and a deep page.
 *
 *   npx tsc -b test-e2e && node apps/cluster-node/scripts/build-dashboard.mjs &&
 *     node test-e2e/dist/bench/dashboard.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startCluster } from '../src/index.js';
import { sippRegisterRun } from '../src/sipp.js';

const AORS = Number(process.env.BENCH_AORS ?? 100_000);
const RUNS = 3;

interface Page {
  total: number;
  next: string | null;
}

async function main(): Promise<void> {
  await using cluster = await startCluster({ nodes: 1, logLevel: 'warn' });
  const node = cluster.node(1);
  const target = node.sipUdp;
  if (target === undefined) throw new Error('the node has no SIP UDP listener');
  const dir = mkdtempSync(join(tmpdir(), 'sipedge-dash-bench-'));
  const fill = await sippRegisterRun(dir, target, {
    count: AORS,
    rate: 20_000,
    limit: 200,
    prefix: 'u',
  });
  rmSync(dir, { recursive: true, force: true });
  const held = await node.call<{ contacts: number }>('node_info');
  console.log(
    `filled: ${fill.ok} REGISTERs in ${fill.seconds.toFixed(1)} s; the node holds ${held.contacts} contacts`,
  );

  const mi = async (params: Record<string, unknown>): Promise<[number, Page]> => {
    const t = performance.now();
    const page = await node.call<Page>('ul_search', { table_name: 'location', ...params });
    return [performance.now() - t, page];
  };
  const [firstMs, first] = await mi({ limit: 25 });
  const [deepMs] = await mi({ prefix: 'u9', limit: 25, after: 'u99000@e2e.test' });
  const [searchMs, found] = await mi({ prefix: 'u4242', limit: 25 });
  console.log(
    `ul_search over MI HTTP: first page ${firstMs.toFixed(1)} ms (index built; total ${first.total}), deep page ${deepMs.toFixed(1)} ms, prefix u4242 ${searchMs.toFixed(1)} ms (${found.total} AoRs)`,
  );

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  try {
    const origin = new URL(node.miUrl).origin;
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(`${origin}/#registrations`);
      const mark = await page.waitForFunction(
        () => performance.getEntriesByName('sipedge:registrations-rendered')[0]?.startTime,
        undefined,
        { timeout: 30_000 },
      );
      const ms = (await mark.jsonValue()) as number;
      const shown = await page.getByTestId('reg-count').textContent();
      times.push(ms);
      console.log(`run ${i + 1}: first render ${ms.toFixed(0)} ms after navigation (${shown})`);
      await context.close();
    }
    const sorted = times.slice().sort((a, b) => a - b);
    console.log(
      `Registrations view, ${AORS} AoRs: first render median ${sorted[1]?.toFixed(0)} ms (${times.map((t) => t.toFixed(0)).join(', ')})`,
    );
  } finally {
    await browser.close();
  }
}

await main();
