/**
 * `startSites()`: a federation of two sites on loopback for end-to-end tests and benchmarks.
 * Each site is a cluster from `startCluster()` (its own nodes, relays and `vip/1` service
 * address, node 1 active); a six-instance Redis Cluster holds presence; every node's
 * `federation` section names both sites by their service addresses. Disposing stops the sites,
 * then Redis.
 */
import { presenceKey } from '@sipedge/federation';
import { notYet, type RedisCluster, redisCli, startRedisCluster, until } from '@sipedge/test-utils';
import { type Cluster, disposeAfterTest, startCluster } from './cluster.js';
import type { Address } from './node.js';

export interface Site {
  readonly id: string;
  readonly cluster: Cluster;
  /** The site's service address (held by the node active for `vip/1`). */
  readonly address: Address;
}

export interface Sites extends AsyncDisposable {
  readonly redis: RedisCluster;
  readonly a: Site;
  readonly b: Site;
  /** The sites `aor` is at in Redis now (empty while Redis is away). */
  sitesOf(aor: string): Promise<string[]>;
  logs(): string;
}

export interface SitesOptions {
  /** Nodes per site (default 2). */
  readonly nodes?: number;
  /** Relays per site (default 1). */
  readonly relays?: number;
  /** With false, the nodes have no `federation` section (a baseline for benchmarks). */
  readonly federation?: boolean;
  /** Extra keys of every node's `federation` section. */
  readonly tune?: Record<string, unknown>;
  readonly logLevel?: string;
}

export async function startSites(options: SitesOptions = {}): Promise<Sites> {
  const redis = await startRedisCluster();
  const clusters: Cluster[] = [];
  const dispose = async (): Promise<void> => {
    await Promise.all(clusters.map((c) => c[Symbol.asyncDispose]()));
    await redis.stop();
  };
  let disposing: Promise<void> | undefined;
  const sites: Partial<Sites> & AsyncDisposable = {
    [Symbol.asyncDispose]: () => {
      disposing ??= dispose();
      return disposing;
    },
  };
  await disposeAfterTest(sites);
  try {
    for (let i = 0; i < 2; i++) {
      clusters.push(
        await startCluster({
          nodes: options.nodes ?? 2,
          relays: options.relays ?? 1,
          ha: { active: 1 },
          start: [],
          ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
        }),
      );
    }
    const [ca, cb] = clusters as [Cluster, Cluster];
    const address = (c: Cluster): Address => c.serviceAddress!;
    const list = [
      { id: 'A', address: `${address(ca).host}:${address(ca).port}` },
      { id: 'B', address: `${address(cb).host}:${address(cb).port}` },
    ];
    for (const [i, c] of clusters.entries()) {
      for (const node of c.nodes) {
        // the AoRs keep their domain (`uas@127.0.0.1`), as the tests look them up
        node.config.usrloc = { ...(node.config.usrloc as object | undefined), use_domain: true };
        if (options.federation !== false) {
          node.config.federation = {
            site: list[i]!.id,
            sites: list,
            store: { nodes: redis.nodes.slice(0, 3) },
            probe_interval: 0.5,
            ...options.tune,
          };
        }
        node.write();
      }
      for (const node of c.nodes) await node.start();
      await c.waitLinked();
      await until(
        async () => {
          const info = await c.node(1).call<{ ha_state: string | null }>('node_info');
          return info.ha_state === 'active' || notYet(`ha_state ${info.ha_state}`);
        },
        { what: `site ${list[i]!.id}: node 1 to hold the service address` },
      );
    }
    return Object.assign(sites, {
      redis,
      a: { id: 'A', cluster: ca, address: address(ca) },
      b: { id: 'B', cluster: cb, address: address(cb) },
      async sitesOf(aor: string): Promise<string[]> {
        const key = presenceKey(aor);
        try {
          const text = await redisCli(await redis.masterOf(key), 'hkeys', key);
          return text === '' ? [] : text.split('\n').sort();
        } catch {
          return [];
        }
      },
      logs: () => clusters.map((c) => c.logs()).join('\n'),
    }) as Sites;
  } catch (err) {
    await sites[Symbol.asyncDispose]();
    throw err;
  }
}
