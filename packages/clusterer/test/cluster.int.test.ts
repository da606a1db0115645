/**
 * Real TCP on loopback: three node processes (test/node-runner.ts, run from dist — build
 * with `npx tsc -b packages/clusterer` first) form a cluster, one is SIGKILLed and restarted.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  JsonProcesses,
  killJsonProcess as kill,
  type JsonProc as Proc,
  peerPort,
  until,
  waitForLine as waitFor,
} from '@sipedge/test-utils';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTERER_TABLE_SQL } from '../src/nodes/store.js';

const runner = new URL('../dist/test/node-runner.js', import.meta.url).pathname;

const procs = new JsonProcesses(runner);

async function nodesOf(p: Proc): Promise<number[]> {
  const before = p.lines.length;
  p.child.stdin?.write('{"cmd":"nodes"}\n');
  const hit = await waitFor(p, (l) => l.event === 'nodes' && p.lines.indexOf(l) >= before);
  return (hit.nodes as number[]).sort((a, b) => a - b);
}

afterEach(() => procs.stopAll());

describe('three clusterer processes over real TCP', () => {
  beforeAll(() => {
    if (!existsSync(runner))
      throw new Error(`${runner} is missing: run npx tsc -b packages/clusterer first`);
  });

  it('db_mode=0: form a cluster from one neighbour each, detect a SIGKILL, rejoin after restart', async () => {
    const info = (id: number, port: number | string): string =>
      `cluster_id=1,node_id=${id},url=bin:127.0.0.1:${port}`;
    const n1 = procs.start({
      myNodeId: 1,
      listenPort: 0,
      dbMode: 0,
      myNodeInfo: [info(1, '$PORT')],
    });
    const p1 = (await waitFor(n1, (l) => l.event === 'ready')).port as number;
    const n2 = procs.start({
      myNodeId: 2,
      listenPort: 0,
      dbMode: 0,
      myNodeInfo: [info(2, '$PORT')],
      neighborNodeInfo: [info(1, p1)],
    });
    const p2 = (await waitFor(n2, (l) => l.event === 'ready')).port as number;
    const cfg3 = {
      myNodeId: 3,
      listenPort: 0,
      dbMode: 0,
      myNodeInfo: [info(3, '$PORT')],
      neighborNodeInfo: [info(2, p2)],
    };
    const n3 = procs.start(cfg3);
    const p3 = (await waitFor(n3, (l) => l.event === 'ready')).port as number;
    await until(
      async () => (await nodesOf(n1)).join() === '2,3' && (await nodesOf(n3)).join() === '1,2',
      { what: 'nodes 1 and 3 to know the whole cluster' },
    );
    expect(await nodesOf(n2)).toEqual([1, 3]);

    await kill(n3, 'SIGKILL');
    await waitFor(n1, (l) => l.event === 'node_state' && l.nodeId === 3 && l.up === false);
    await waitFor(n2, (l) => l.event === 'node_state' && l.nodeId === 3 && l.up === false);

    const n3b = procs.start({ ...cfg3, listenPort: p3 });
    await waitFor(n3b, (l) => l.event === 'ready');
    await waitFor(
      n1,
      (l) => l.event === 'node_state' && l.nodeId === 3 && l.up === true && n1.lines.indexOf(l) > 0,
    );
    await until(async () => (await nodesOf(n3b)).join() === '1,2', {
      what: 'the restarted node 3 to know nodes 1 and 2',
    });
    expect(
      n1.lines.filter((l) => l.event === 'node_state' && l.nodeId === 3).map((l) => l.up),
    ).toEqual([true, false, true]);
  }, 30_000);

  it('db_mode=1: nodes from a SQLite clusterer table, SIGKILL and rejoin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-clusterer-'));
    try {
      const dbPath = join(dir, 'cluster.db');
      // the table lists every node's url before any starts
      const ports = [await peerPort(), await peerPort(), await peerPort()];
      const db = new Database(dbPath);
      db.exec(CLUSTERER_TABLE_SQL);
      const ins = db.prepare('INSERT INTO clusterer (cluster_id, node_id, url) VALUES (1, ?, ?)');
      for (const [i, p] of ports.entries()) ins.run(i + 1, `bin:127.0.0.1:${p}`);
      db.close();
      const mk = (i: number): Proc =>
        procs.start({ myNodeId: i + 1, listenPort: ports[i], dbMode: 1, dbPath });
      const n = [mk(0), mk(1), mk(2)];
      for (const p of n) await waitFor(p, (l) => l.event === 'ready');
      const [a, b, c] = n as [Proc, Proc, Proc];
      await until(
        async () => (await nodesOf(a)).join() === '2,3' && (await nodesOf(c)).join() === '1,2',
        { what: 'nodes 1 and 3 to know the whole cluster' },
      );
      await kill(b, 'SIGKILL');
      await waitFor(a, (l) => l.event === 'node_state' && l.nodeId === 2 && l.up === false);
      await waitFor(c, (l) => l.event === 'node_state' && l.nodeId === 2 && l.up === false);
      const b2 = mk(1);
      await waitFor(b2, (l) => l.event === 'ready');
      await until(
        async () => (await nodesOf(b2)).join() === '1,3' && (await nodesOf(a)).join() === '2,3',
        { what: 'the restarted node 2 and node 1 to know each other' },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
