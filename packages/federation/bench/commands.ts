/**
 * Which command per presence write: the store's Lua script against plain pipelined commands
 * (HSET, then PEXPIREAT NX and PEXPIREAT GT: the key's expiry only ever moves later), one key
 * per AoR, on a six-instance Redis Cluster on loopback. Prints writes/s and the CPU seconds
 * the six redis-server processes spent (their own `INFO cpu`) per 10,000 writes.
 *
 *   npx tsc -b packages/federation && node packages/federation/dist/bench/commands.js [writes] [runs]
 */
import { redisCli, startRedisCluster } from '@sipedge/test-utils';
import { Cluster } from 'ioredis';
import { DirectRedisPresenceStore } from '../src/store/redis-store.js';
import { presenceKey } from '../src/store/store.js';

const writes = Number(process.argv[2] ?? 20_000);
const runs = Number(process.argv[3] ?? 3);

const cluster = await startRedisCluster();

async function redisCpu(): Promise<number> {
  let total = 0;
  for (const port of cluster.ports) {
    const info = await redisCli(port, 'info', 'cpu');
    for (const m of info.matchAll(/^used_cpu_(?:user|sys):([\d.]+)/gm)) total += Number(m[1]);
  }
  return total;
}

try {
  const script = new DirectRedisPresenceStore({ nodes: cluster.nodes.slice(0, 1) });
  const io = new Cluster(
    cluster.ports.slice(0, 3).map((port) => ({ host: '127.0.0.1', port })),
    { enableAutoPipelining: true, scaleReads: 'master' },
  );
  const plain = async (aor: string, site: string, expires: number): Promise<void> => {
    const key = presenceKey(aor);
    await Promise.all([
      io.hset(key, site, String(expires)),
      io.pexpireat(key, expires, 'NX'),
      io.pexpireat(key, expires, 'GT'),
    ]);
  };
  await io.ping();
  const measure = async (
    label: string,
    write: (aors: string[], expires: number) => Promise<unknown>,
  ): Promise<string> => {
    const aors = Array.from({ length: writes }, (_, i) => `${label}${i}@bench`);
    const expires = Date.now() + 3_600_000;
    const cpu0 = await redisCpu();
    const t0 = performance.now();
    for (let i = 0; i < aors.length; i += 500) await write(aors.slice(i, i + 500), expires);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = ((await redisCpu()) - cpu0) / (writes / 10_000);
    return `${label} ${Math.round(writes / seconds)} writes/s, redis ${cpu.toFixed(2)} cpu-s/10k`;
  };
  for (let run = 1; run <= runs; run++) {
    const a = await measure(`lua${run}-`, (aors, e) =>
      script.write(aors.map((aor) => ({ aor, site: 'A', expires: e }))),
    );
    const b = await measure(`plain${run}-`, (aors, e) =>
      Promise.all(aors.map((aor) => plain(aor, 'A', e))),
    );
    console.log(`run ${run}: ${a}; ${b} (${writes} writes, batches of 500)`);
  }
  await script.close();
  io.disconnect();
} finally {
  await cluster.stop();
}
