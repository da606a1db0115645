import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  JsonProcesses,
  killJsonProcess as killProc,
  type JsonProc as Proc,
  waitForLine as waitFor,
} from '@sipedge/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

const NODE = join(import.meta.dirname, '..', 'dist', 'test', 'repl-node.js');

const procs = new JsonProcesses(NODE);

const kill = (p: Proc): Promise<void> => killProc(p, 'SIGKILL');

afterEach(() => procs.stopAll());

describe('usrloc replication between node processes over loopback TCP', () => {
  it('a joining node syncs every binding, then receives live changes; a restarted node syncs again', async () => {
    expect(existsSync(NODE), `${NODE} missing: run npx tsc -b packages/usrloc first`).toBe(true);
    const a = procs.start({ id: 1, neighbors: [], seed: true, contacts: 5000, pingTimeout: 300 });
    const pa = Number((await waitFor(a, (l) => l.event === 'ready')).port);
    const da = await waitFor(a, (l) => l.event === 'synced');
    expect(da.size).toBe(5000);
    const b = procs.start({
      id: 2,
      neighbors: [{ id: 1, port: pa }],
      seed: false,
      contacts: 0,
      expect: 5500,
    });
    const pb = Number((await waitFor(b, (l) => l.event === 'ready')).port);
    const db = await waitFor(b, (l) => l.event === 'synced');
    expect([db.size, db.digest]).toEqual([5000, da.digest]);
    // live replication: 500 new bindings on node 1 reach node 2
    a.child.stdin?.write('write 500\n');
    const wrote = await waitFor(a, (l) => l.event === 'wrote');
    expect(wrote.sent).toBe(500);
    const got = await waitFor(b, (l) => l.event === 'count');
    expect(got.n).toBe(5500);
    // node 2 dies and comes back empty (memory-only) on the same address: it syncs all again
    // (a discovered node keeps its URL, so it must come back on the same port)
    await kill(b);
    // the clusterer needs a restarted node to come back in a later second than its last update
    // (one-second timestamps): wait until node 1 has seen node 2 go down first
    await waitFor(a, (l) => l.event === 'node_state' && l.nodeId === 2 && l.up === false);
    const b2 = procs.start({
      id: 2,
      neighbors: [{ id: 1, port: pa }],
      seed: false,
      contacts: 0,
      pingTimeout: 300,
      port: pb,
    });
    const db2 = await waitFor(b2, (l) => l.event === 'synced');
    expect(db2.size).toBe(5500);
    a.child.stdin?.write('digest\n');
    const now = await waitFor(a, (l) => l.event === 'digest');
    expect(db2.digest).toBe(now.digest);
  }, 60_000);
});
