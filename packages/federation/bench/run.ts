/**
 * Which Redis client: pipelined presence writes (the store's Lua script, one key per AoR)
 * against a six-instance Redis Cluster on loopback, through ioredis (auto-pipelining) and
 * node-redis (which pipelines what is sent in one tick). Prints writes/s per client per run.
 *
 *   npx tsc -b packages/federation && node packages/federation/dist/bench/run.js [writes] [runs]
 */
import { startRedisCluster } from '@sipedge/test-utils';
import { Cluster } from 'ioredis';
import { createCluster, defineScript } from 'redis';

const SCRIPT = `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('PEXPIREAT', KEYS[1], ARGV[2])`;
const writes = Number(process.argv[2] ?? 20_000);
const runs = Number(process.argv[3] ?? 3);

const cluster = await startRedisCluster();
try {
  const seeds = cluster.ports.slice(0, 3);
  const io = new Cluster(
    seeds.map((port) => ({ host: '127.0.0.1', port })),
    { enableAutoPipelining: true },
  );
  io.defineCommand('put', { numberOfKeys: 1, lua: SCRIPT });
  const ioPut = (
    io as unknown as { put(k: string, s: string, e: string): Promise<number> }
  ).put.bind(io);
  const nr = createCluster({
    rootNodes: seeds.map((p) => ({ url: `redis://127.0.0.1:${p}` })),
    scripts: {
      put: defineScript({
        NUMBER_OF_KEYS: 1,
        SCRIPT,
        parseCommand(parser, key: string, site: string, expires: string) {
          parser.pushKey(key);
          parser.push(site, expires);
        },
        transformReply: (reply: unknown) => reply,
      }),
    },
  });
  nr.on('error', () => {});
  await nr.connect();
  await io.ping();
  const expires = String(Date.now() + 3_600_000);
  const rate = async (put: (key: string) => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: writes }, (_, i) => put(`sipedge:fed:u${i}@bench`)));
    return Math.round(writes / ((performance.now() - t0) / 1000));
  };
  for (let run = 1; run <= runs; run++) {
    const a = await rate((k) => ioPut(k, 'A', expires));
    const b = await rate((k) => nr.put(k, 'B', expires));
    console.log(`run ${run}: ioredis ${a} writes/s, node-redis ${b} writes/s (${writes} writes)`);
  }
  io.disconnect();
  await nr.close();
} finally {
  await cluster.stop();
}
