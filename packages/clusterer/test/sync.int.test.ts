/**
 * Real TCP on loopback with node processes (test/sync-runner.ts, run from dist — build with
 * `npx tsc -b packages/clusterer` first): a fourth node joins a three-node cluster holding
 * 100,000 records and reports synced with all of them; SIGKILL of a tag's active owner makes
 * a backup active.
 */

import {
  JsonProcesses,
  killJsonProcess as kill,
  waitForLine as waitFor,
} from '@sipedge/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

const runner = new URL('../dist/test/sync-runner.js', import.meta.url).pathname;

const procs = new JsonProcesses(runner);

afterEach(() => procs.stopAll());

describe('capability sync and tag failover over real TCP', () => {
  it('a fourth node joins three holding 100,000 records and syncs all of them', async () => {
    const n1 = procs.start({
      id: 1,
      neighbors: [],
      records: 100_000,
      seed: true,
      pingTimeout: 1000,
    });
    const p1 = Number((await waitFor(n1, (l) => l.event === 'ready')).port);
    const d1 = await waitFor(n1, (l) => l.event === 'synced');
    expect(d1.size).toBe(100_000);
    const others = [2, 3].map((id) =>
      procs.start({
        id,
        neighbors: [{ id: 1, port: p1 }],
        records: 0,
        seed: false,
        pingTimeout: 1000,
      }),
    );
    for (const o of others) {
      const s = await waitFor(o, (l) => l.event === 'synced', 30_000);
      expect(s.digest).toBe(d1.digest);
    }
    const n4 = procs.start({
      id: 4,
      neighbors: [{ id: 1, port: p1 }],
      records: 0,
      seed: false,
      pingTimeout: 1000,
    });
    const s4 = await waitFor(n4, (l) => l.event === 'synced', 30_000);
    expect(s4.size).toBe(100_000);
    expect(s4.digest).toBe(d1.digest);
    expect(n4.lines.some((l) => String(l.report).startsWith('Sync completed'))).toBe(true);
  }, 90_000);

  it('SIGKILL of the active owner of a tag makes one backup active', async () => {
    // a long hold-down keeps the ranked takeover order robust on a loaded machine
    const base = { records: 0, tags: ['vip/1=backup'], holdDownMs: 1000 };
    const n1 = procs.start({ id: 1, neighbors: [], seed: true, ...base });
    const p1 = Number((await waitFor(n1, (l) => l.event === 'ready')).port);
    const n2 = procs.start({ id: 2, neighbors: [{ id: 1, port: p1 }], seed: false, ...base });
    const n3 = procs.start({ id: 3, neighbors: [{ id: 1, port: p1 }], seed: false, ...base });
    await waitFor(n1, (l) => l.event === 'shtag' && l.state === 'active', 20_000);
    // every node sees the others before the owner dies
    await waitFor(n2, (l) => l.event === 'node_state' && l.nodeId === 3 && l.up === true);
    await waitFor(n3, (l) => l.event === 'node_state' && l.nodeId === 2 && l.up === true);
    await kill(n1, 'SIGKILL');
    const took = await Promise.race([
      waitFor(n2, (l) => l.event === 'shtag' && l.state === 'active', 20_000).then(() => 2),
      waitFor(n3, (l) => l.event === 'shtag' && l.state === 'active', 20_000).then(() => 3),
    ]);
    expect(took).toBe(2);
    // an observation window (not ordering): node 3 must stay backup
    await new Promise<void>((r) => {
      const t = setTimeout(r, 2000);
      t.unref?.();
    });
    expect(n3.lines.some((l) => l.event === 'shtag' && l.state === 'active')).toBe(false);
  }, 60_000);
});
