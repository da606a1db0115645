import { describe, expect, it } from 'vitest';
import { redisCli, startRedisCluster } from './redis.js';

describe('startRedisCluster', () => {
  it('creates three masters with a replica each, and fails a killed master over', async () => {
    await using cluster = await startRedisCluster();
    expect(cluster.nodes).toHaveLength(6);
    const [first] = cluster.ports;
    const info = await redisCli(first!, 'cluster', 'info');
    expect(info).toContain('cluster_size:3');
    expect(info).toContain('cluster_known_nodes:6');

    const before = await cluster.masterOf('sip:alice@example.com');
    await cluster.kill(before);
    await cluster.waitOk();
    const after = await cluster.masterOf('sip:alice@example.com');
    expect(after).not.toBe(before);
    expect(cluster.running(before)).toBe(false);

    await cluster.restart(before);
    await cluster.waitOk();
    expect(cluster.running(before)).toBe(true);
  }, 60_000);
});
