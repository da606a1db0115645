/**
 * Real TCP on loopback with node processes (test/sync-runner.ts, run from dist — build with
 * `npx tsc -b packages/clusterer` first): large syncs are streamed behind the pings (a sync
 * lasting many ping intervals never gets its donor declared down), and a joiner whose donor
 * is SIGKILLed mid-sync is not synced until a full, digest-verified sync from a survivor.
 */

import {
  JsonProcesses,
  killJsonProcess as kill,
  type JsonProc as Proc,
  waitForLine as waitFor,
} from '@sipedge/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

const runner = new URL('../dist/test/sync-runner.js', import.meta.url).pathname;

const procs = new JsonProcesses(runner);

afterEach(() => procs.stopAll());

const CONTINUE = (p: Proc): void => {
  if (p.child.pid !== undefined) process.kill(p.child.pid, 'SIGCONT');
};

describe('sync streams over real TCP', () => {
  it('a sync lasting many ping intervals never gets its donor declared down', async () => {
    // ping every 100 ms, 150 ms to answer: a pong stuck behind the sync stream for ~0.3 s
    // (a missed pong plus the confirmation ping) takes the link down
    const timers = { pingInterval: 0.1, pingTimeout: 150 };
    const n1 = procs.start({ id: 1, neighbors: [], records: 400_000, seed: true, ...timers });
    const p1 = Number((await waitFor(n1, (l) => l.event === 'ready', 60_000)).port);
    const d1 = await waitFor(n1, (l) => l.event === 'synced', 60_000);
    const n2 = procs.start({
      id: 2,
      neighbors: [{ id: 1, port: p1 }],
      records: 0,
      seed: false,
      ...timers,
    });
    const started = await waitFor(
      n2,
      (l) => l.event === 'cap' && String(l.report).startsWith('Sync started from node [1]'),
      60_000,
    );
    const s2 = await waitFor(n2, (l) => l.event === 'synced', 120_000);
    expect([s2.size, s2.digest]).toEqual([400_000, d1.digest]);
    // the stream lasted several ping intervals
    expect(Number(s2.t) - Number(started.t)).toBeGreaterThan(300);
    const reports = n2.lines.filter((l) => l.event === 'cap').map((l) => String(l.report));
    expect(reports.filter((r) => r.startsWith('Sync started'))).toHaveLength(1);
    expect(reports.filter((r) => r.startsWith('Sync completed'))).toHaveLength(1);
    // the joiner never declared its donor down (its pongs were not starved by the stream)
    expect(n2.lines.filter((l) => l.event === 'node_state' && l.up === false)).toEqual([]);
    // (the donor may see a CPU-starved joiner miss a pong on a loaded machine: its stream then
    // pauses and resumes on the same connection, and the sync above still ran once)
  }, 180_000);

  it('a joiner whose donor is SIGKILLed mid-sync is synced only after a full sync from a survivor', async () => {
    const records = 300_000;
    const n1 = procs.start({ id: 1, neighbors: [], records, seed: true });
    const p1 = Number((await waitFor(n1, (l) => l.event === 'ready', 60_000)).port);
    const d1 = await waitFor(n1, (l) => l.event === 'synced', 60_000);
    const n2 = procs.start({ id: 2, neighbors: [{ id: 1, port: p1 }], records: 0, seed: false });
    const p2 = Number((await waitFor(n2, (l) => l.event === 'ready')).port);
    const s2 = await waitFor(n2, (l) => l.event === 'synced', 120_000);
    expect(s2.digest).toBe(d1.digest);
    // the survivor hangs for a while: at first the joiner has only node 1 to sync from
    if (n2.child.pid !== undefined) process.kill(n2.child.pid, 'SIGSTOP');
    await waitFor(n1, (l) => l.event === 'node_state' && l.nodeId === 2 && l.up === false);
    // the joiner is a seed too: with no donor left it would be allowed to fall back, but not
    // after a sync that broke part way
    const n3 = procs.start({
      id: 3,
      neighbors: [
        { id: 1, port: p1 },
        { id: 2, port: p2 },
      ],
      records: 0,
      seed: true,
    });
    await waitFor(
      n3,
      (l) => l.event === 'cap' && String(l.report).startsWith('Sync started from node [1]'),
      60_000,
    );
    await kill(n1, 'SIGKILL');
    await waitFor(
      n3,
      (l) => l.event === 'cap' && /Donor node \[1\]|timed out/.test(String(l.report)),
    );
    // an observation window (not ordering): many seed-fallback intervals (0.5 s) and ticks
    await new Promise<void>((r) => {
      const t = setTimeout(r, 2000);
      t.unref?.();
    });
    expect(n3.lines.some((l) => l.event === 'synced')).toBe(false);
    CONTINUE(n2);
    const s3 = await waitFor(n3, (l) => l.event === 'synced', 120_000);
    expect([s3.size, s3.digest]).toEqual([records, d1.digest]);
    const reports = n3.lines.filter((l) => l.event === 'cap').map((l) => String(l.report));
    const from2 = reports.findIndex((r) => r.startsWith('Sync started from node [2]'));
    expect(from2).toBeGreaterThan(0);
    // the first (and only) "synced" is the completed sync from node 2
    expect(n3.lines.filter((l) => l.event === 'synced')).toHaveLength(1);
    expect(reports.slice(from2).some((r) => r.startsWith('Sync completed'))).toBe(true);
    expect(reports.some((r) => r.includes('falling back'))).toBe(false);
  }, 240_000);
});
