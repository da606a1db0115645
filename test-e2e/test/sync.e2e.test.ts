/**
 * A node joining a cluster that holds 100,000 registrations (loaded with sipp through node 1,
 * replicated to node 2) reports its usrloc capability synced and holds all of them.
 */
import { notYet, until } from '@sipedge/test-utils';
import { describe, expect, it, onTestFailed } from 'vitest';
import { aors, missing, startCluster, startRegisterLoad, usrlocSynced } from '../src/index.js';

const COUNT = 100_000;

describe('startup sync', () => {
  it('a node joining a cluster holding 100,000 registrations syncs all of them', async () => {
    await using cluster = await startCluster({
      nodes: 3,
      start: [1, 2],
      proxy: false,
      // info: a failed run shows the sync story (requests, donors, node up/down) in the logs
      logLevel: 'info',
      clusterer: { ping_timeout: 2000, sync_timeout: 60 },
      configure: (c) => {
        (c.sip as Record<string, unknown>).nat_ping = { enabled: false };
      },
    });
    onTestFailed(() => console.log(cluster.logs()));
    const load = await startRegisterLoad({
      dir: cluster.dir,
      target: cluster.node(1).sipUdp!,
      count: COUNT,
      rate: 4000,
      limit: 2000,
      prefix: 's',
    });
    const { ok, output } = await load.done();
    expect(ok.size, output.slice(-2000)).toBe(COUNT);
    await until(
      async () => {
        const n = (await aors(cluster.node(2))).size;
        return n >= COUNT || notYet(`${n} so far`);
      },
      { what: 'node 2 to hold them all', timeoutMs: 60_000 },
    );
    const started = Date.now();
    await cluster.node(3).start();
    await until(() => usrlocSynced(cluster.node(3)), {
      what: 'node 3 synced',
      timeoutMs: 90_000,
      intervalMs: 200,
    });
    console.log(`node 3 synced ${COUNT} registrations in ${Date.now() - started} ms (incl. start)`);
    const have = await aors(cluster.node(3));
    expect(missing(ok, have)).toEqual([]);
  }, 240_000);
});
