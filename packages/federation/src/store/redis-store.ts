/**
 * The presence store on Redis Cluster, through ioredis, on the calling thread (`RedisPresenceStore`
 * runs this one in a worker thread): it follows `MOVED` and `ASK`
 * redirections, refreshes the slot map when a master fails over, and pipelines the commands of
 * one tick per node (`enableAutoPipelining`), so a batch of writes costs one round trip per
 * master. Each write is one Lua script on one key (no hash tag: the keys spread over the
 * slots), which sets or removes the site's field and sets the key's expiry to its longest
 * field. Every call is bounded by `timeoutMs`: a store that is away fails the call, it never
 * holds it.
 */
import { readFileSync } from 'node:fs';
import { type Logger, LogLimiter, noopLogger, parseHostPort } from '@sipedge/core';
import { Cluster } from 'ioredis';
import { FederationError } from '../errors.js';
import { type PresenceStore, type PresenceWrite, presenceKey, type SitePresence } from './store.js';

/**
 * KEYS[1]: the AoR's key; ARGV: site, expiry (ms since the epoch, '0' removes), the expiry the
 * field must hold for the write to apply ('' : any). The key expires with its longest field.
 */
const SET_PRESENCE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' and current ~= ARGV[3] then return 0 end
if ARGV[2] == '0' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
local longest = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  local n = tonumber(v)
  if n ~= nil and n > longest then longest = n end
end
if longest > 0 then redis.call('PEXPIREAT', KEYS[1], longest) end
return 1
`;

export interface RedisStoreOptions {
  /** Seed nodes, `host:port`. */
  readonly nodes: readonly string[];
  readonly tls?: {
    /** A CA bundle file (PEM) to verify the Redis servers with. */
    readonly ca?: string | undefined;
    /** The bundle's text itself, read once by whoever starts the store (the worker's owner). */
    readonly caPem?: string | undefined;
    readonly servername?: string | undefined;
  };
  readonly username?: string;
  readonly password?: string;
  /** A call not answered within this fails (default 1 s). */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

type PresenceCluster = Cluster & {
  setPresence(key: string, site: string, expires: string, expected: string): Promise<number>;
};

function seed(address: string): { host: string; port: number } {
  const hp = parseHostPort(address);
  if (hp === undefined) throw new FederationError('FED_STORE', `"${address}" is not host:port`);
  return hp;
}

export class DirectRedisPresenceStore implements PresenceStore {
  readonly #cluster: PresenceCluster;
  readonly #timeoutMs: number;
  #closed = false;

  constructor(options: RedisStoreOptions) {
    const log = options.logger ?? noopLogger;
    const limiter = new LogLimiter({ intervalMs: 10_000 });
    this.#timeoutMs = options.timeoutMs ?? 1000;
    const tls =
      options.tls === undefined
        ? undefined
        : {
            ...(options.tls.caPem !== undefined
              ? { ca: options.tls.caPem }
              : options.tls.ca === undefined
                ? {}
                : { ca: readFileSync(options.tls.ca) }),
            ...(options.tls.servername === undefined ? {} : { servername: options.tls.servername }),
          };
    const cluster = new Cluster(options.nodes.map(seed), {
      enableAutoPipelining: true,
      scaleReads: 'master',
      maxRedirections: 16,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: 1000,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      redisOptions: {
        connectTimeout: 1000,
        maxRetriesPerRequest: 2,
        ...(options.username === undefined ? {} : { username: options.username }),
        ...(options.password === undefined ? {} : { password: options.password }),
        ...(tls === undefined ? {} : { tls }),
      },
    });
    cluster.defineCommand('setPresence', { numberOfKeys: 1, lua: SET_PRESENCE });
    cluster.on('error', (err: Error) => {
      const held = limiter.admit('error');
      if (held !== undefined) log.warn({ err: err.message, held }, 'federation: redis error');
    });
    this.#cluster = cluster as PresenceCluster;
  }

  async write(writes: readonly PresenceWrite[]): Promise<void> {
    const c = this.#cluster;
    await this.#bounded(
      Promise.all(
        writes.map((w) => c.setPresence(presenceKey(w.aor), w.site, String(w.expires), '')),
      ),
      `write of ${writes.length} AoRs`,
    );
  }

  async sites(aor: string, now: number): Promise<SitePresence[]> {
    const fields = await this.#bounded(this.#cluster.hgetall(presenceKey(aor)), 'read');
    const out: SitePresence[] = [];
    for (const [site, value] of Object.entries(fields)) {
      const expires = Number(value);
      if (!Number.isFinite(expires)) {
        throw new FederationError('FED_STORE_REPLY', `${aor}: site ${site} holds ${value}`);
      }
      if (expires > now) out.push({ site, expires });
    }
    return out;
  }

  async removeIf(aor: string, site: string, expires: number): Promise<void> {
    await this.#bounded(
      this.#cluster.setPresence(presenceKey(aor), site, '0', String(expires)),
      'conditional remove',
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cluster.disconnect();
  }

  #bounded<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        reject(
          new FederationError('FED_STORE', `redis: ${what} not answered in ${this.#timeoutMs} ms`),
        );
      }, this.#timeoutMs);
      p.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(t);
          reject(
            new FederationError('FED_STORE', `redis: ${what}: ${(err as Error).message}`, {
              cause: err,
            }),
          );
        },
      );
    });
  }
}
