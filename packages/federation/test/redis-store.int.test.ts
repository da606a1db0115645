/**
 * The presence store (its client in a worker thread) and the publisher against a real Redis
 * Cluster (six redis-server instances): the script's semantics, the worker dying mid-call, keys spread over the masters, MOVED and ASK followed,
 * a master's failover, and Redis wholly gone then back (queue bound, replay, resync).
 */
import { type RedisCluster, redisCli, startRedisCluster, until } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PresencePublisher, type PresenceSource } from '../src/publisher/publisher.js';
import { killWorker, RedisPresenceStore } from '../src/store/redis-worker-store.js';
import { presenceKey } from '../src/store/store.js';

const HOUR = 3_600_000;

let cluster: RedisCluster;
let store: RedisPresenceStore;

beforeAll(async () => {
  cluster = await startRedisCluster();
  store = new RedisPresenceStore({ nodes: cluster.nodes.slice(0, 1), timeoutMs: 2000 });
}, 60_000);

afterAll(async () => {
  await store?.close();
  await cluster?.stop();
});

async function nodeId(port: number): Promise<string> {
  return redisCli(port, 'cluster', 'myid');
}

describe('RedisPresenceStore on a Redis Cluster', () => {
  it('keeps one field per site, expires the key with its longest field, removes conditionally', async () => {
    const now = Date.now();
    const aor = 'alice@example.com';
    await store.write([
      { aor, site: 'A', expires: now + HOUR },
      { aor, site: 'B', expires: now + 2 * HOUR },
    ]);
    expect((await store.sites(aor, now)).sort((a, b) => a.site.localeCompare(b.site))).toEqual([
      { site: 'A', expires: now + HOUR },
      { site: 'B', expires: now + 2 * HOUR },
    ]);
    const master = await cluster.masterOf(presenceKey(aor));
    const pttl = Number(await redisCli(master, 'pttl', presenceKey(aor)));
    expect(pttl).toBeGreaterThan(2 * HOUR - 60_000);
    expect(pttl).toBeLessThanOrEqual(2 * HOUR);
    // B's entry is rewritten meanwhile: a stale 404 must not remove it
    await store.removeIf(aor, 'B', now + HOUR);
    await store.removeIf(aor, 'A', now + HOUR);
    expect(await store.sites(aor, now)).toEqual([{ site: 'B', expires: now + 2 * HOUR }]);
    const shorter = Number(await redisCli(master, 'pttl', presenceKey(aor)));
    expect(shorter).toBeGreaterThan(HOUR);
    await store.write([{ aor, site: 'B', expires: 0 }]);
    expect(await redisCli(master, 'exists', presenceKey(aor))).toBe('0');
  });

  it('spreads the AoR keys over every master', async () => {
    const now = Date.now();
    const writes = Array.from({ length: 300 }, (_, i) => ({
      aor: `spread${i}@example.com`,
      site: 'A',
      expires: now + HOUR,
    }));
    await store.write(writes);
    const masters = new Set<number>();
    for (const w of writes.slice(0, 30)) masters.add(await cluster.masterOf(presenceKey(w.aor)));
    expect(masters.size).toBe(3);
    for (const port of masters) {
      expect(Number(await redisCli(port, 'dbsize'))).toBeGreaterThan(50);
    }
  });

  it('follows ASK during a slot migration and MOVED after it', async () => {
    const aor = 'migrating@example.com';
    const key = presenceKey(aor);
    const slot = await redisCli(cluster.ports[0]!, 'cluster', 'keyslot', key);
    const source = await cluster.masterOf(key);
    const masters = new Set<number>();
    for (let i = 0; i < 30; i++) masters.add(await cluster.masterOf(`k${i}`));
    const target = [...masters].find((p) => p !== source)!;
    const [sourceId, targetId] = [await nodeId(source), await nodeId(target)];
    await redisCli(target, 'cluster', 'setslot', slot, 'importing', sourceId);
    await redisCli(source, 'cluster', 'setslot', slot, 'migrating', targetId);
    // the key is not on the source: it answers ASK, the client asks the target
    const now = Date.now();
    await store.write([{ aor, site: 'A', expires: now + HOUR }]);
    for (const port of cluster.ports) {
      await redisCli(port, 'cluster', 'setslot', slot, 'node', targetId).catch(() => '');
    }
    await cluster.waitOk();
    // keys are not moved by SETSLOT NODE: the key is on the target because ASK sent it there
    expect(await redisCli(target, 'exists', key)).toBe('1');
    expect(await redisCli(source, 'dbsize')).not.toBe('0');
    // the client still maps the slot to the source: MOVED sends it to the target
    expect(await store.sites(aor, now)).toEqual([{ site: 'A', expires: now + HOUR }]);
    expect(await cluster.masterOf(key)).toBe(target);
  });
});

describe('RedisPresenceStore when its worker dies', () => {
  it("passes the worker's errors on with their codes", async () => {
    const aor = 'garbled@example.com';
    const master = await cluster.masterOf(presenceKey(aor));
    await redisCli(master, 'hset', presenceKey(aor), 'A', 'soon');
    const read = store.sites(aor, Date.now());
    await expect(read).rejects.toThrow(/site A holds soon/);
    await expect(read).rejects.toMatchObject({ code: 'FED_STORE_REPLY' });
  });

  it('fails the calls it held, starts another worker on the next call and answers again', async () => {
    const own = new RedisPresenceStore({ nodes: cluster.nodes.slice(0, 1), timeoutMs: 2000 });
    try {
      const now = Date.now();
      const held = Array.from({ length: 2000 }, (_, i) => ({
        aor: `crash${i}@example.com`,
        site: 'A',
        expires: now + HOUR,
      }));
      const write = own.write(held);
      await own[killWorker]();
      await expect(write).rejects.toThrow(/worker exited/);
      await expect(write).rejects.toMatchObject({ code: 'FED_STORE' });
      await own.write(held);
      expect(own.restarts).toBe(1);
      expect(await own.sites('crash1999@example.com', now)).toEqual([
        { site: 'A', expires: now + HOUR },
      ]);
    } finally {
      await own.close();
    }
    const afterClose = own.sites('crash0@example.com', Date.now());
    await expect(afterClose).rejects.toThrow(/closed/);
    await expect(afterClose).rejects.toMatchObject({ code: 'FED_STORE' });
  });
});

describe('PresencePublisher on a Redis Cluster', () => {
  const local = new Map<string, number>();
  const source: PresenceSource = {
    entries: () => local.entries(),
    expiresOf: (aor) => local.get(aor),
  };

  it('keeps publishing through the failover of the master that holds an AoR', async () => {
    const publisher = new PresencePublisher({
      site: 'A',
      store,
      source,
      retryMinMs: 50,
      retryMaxMs: 200,
      probeIntervalMs: 0,
    });
    publisher.setWriter(true);
    const aor = 'failover@example.com';
    const master = await cluster.masterOf(presenceKey(aor));
    await cluster.kill(master);
    local.set(aor, Date.now() + HOUR);
    publisher.changed(aor);
    await cluster.waitOk();
    await until(async () => (await store.sites(aor, Date.now()).catch(() => [])).length === 1, {
      what: `${aor} written after the failover`,
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    expect(await cluster.masterOf(presenceKey(aor))).not.toBe(master);
    await cluster.restart(master);
    await cluster.waitOk();
    publisher.stop();
  });

  it('bounds its queue while Redis is gone, then replays and resyncs it whole', async () => {
    const publisher = new PresencePublisher({
      site: 'A',
      store,
      source,
      maxQueue: 50,
      retryMinMs: 50,
      retryMaxMs: 200,
      probeIntervalMs: 200,
    });
    publisher.start();
    publisher.setWriter(true);
    for (const port of cluster.ports) await cluster.kill(port);
    const expires = Date.now() + HOUR;
    for (let i = 0; i < 120; i++) {
      const aor = `offline${i}@example.com`;
      local.set(aor, expires);
      publisher.changed(aor);
    }
    await until(() => publisher.degraded, { what: 'the publisher to say degraded' });
    expect(publisher.queueDepth).toBe(50);
    expect(publisher.counts.dropped).toBeGreaterThan(0);
    for (const port of cluster.ports) await cluster.restart(port);
    await cluster.waitOk(30_000);
    await until(() => !publisher.degraded && publisher.queueDepth === 0 && !publisher.resyncing, {
      what: () => `the queue to drain (${publisher.queueDepth} left)`,
      timeoutMs: 20_000,
    });
    for (let i = 0; i < 120; i++) {
      expect(await store.sites(`offline${i}@example.com`, Date.now())).toHaveLength(1);
    }
    publisher.stop();
  }, 60_000);
});
