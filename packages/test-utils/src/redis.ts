/**
 * A real Redis Cluster on loopback for the federation tests: six `redis-server` processes
 * (three masters, three replicas) joined by `redis-cli --cluster create`, each on a port from
 * `peerPort()` with its cluster bus on the port after it. No persistence: a restarted
 * instance keeps its place in the cluster (nodes.conf) and comes back empty, as after a crash of
 * a cache. Every instance is stopped by pid.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Proc, runProcess } from './index.js';
import { peerPort } from './ports.js';
import { until } from './until.js';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const REDIS_CLI = '/usr/bin/redis-cli';

const run = promisify(execFile);

/** Throws with the Debian package to install when redis-server or redis-cli is missing. */
export function requireRedis(): void {
  for (const bin of [REDIS_SERVER, REDIS_CLI]) {
    if (!existsSync(bin)) {
      throw new Error(
        `${bin} is missing: apt-get install redis-server redis-tools (npm run peers)`,
      );
    }
  }
}

/** One answer of `redis-cli` to `args` sent to 127.0.0.1:port, trimmed. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], {
    timeout: 10_000,
  });
  return stdout.trim();
}

export interface RedisClusterOptions {
  /** Masters; each gets one replica (default 3). */
  readonly masters?: number;
  /** `cluster-node-timeout`: how soon a silent master is failed over (default 1000 ms). */
  readonly nodeTimeoutMs?: number;
}

export interface RedisCluster extends AsyncDisposable {
  /** `127.0.0.1:<port>` of every instance, masters first as created. */
  readonly nodes: readonly string[];
  readonly ports: readonly number[];
  /** Whether the instance on `port` runs. */
  running(port: number): boolean;
  /** SIGKILLs the instance on `port` (a crash); resolves once it has exited. */
  kill(port: number): Promise<void>;
  /** Starts the instance on `port` again, on its own nodes.conf. */
  restart(port: number): Promise<void>;
  /** The port of the master that serves `key`'s slot now (`CLUSTER KEYSLOT`, `CLUSTER NODES`). */
  masterOf(key: string): Promise<number>;
  /**
   * Resolves once every running instance says `cluster_state:ok` and they agree on masters that
   * all run.
   */
  waitOk(timeoutMs?: number): Promise<void>;
  /** Stops every instance (SIGTERM, SIGKILL after 5 s) and removes the directories. */
  stop(): Promise<void>;
}

function serverArgs(dir: string, port: number, nodeTimeoutMs: number): string[] {
  return [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--cluster-port',
    String(port + 1),
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(dir, 'nodes.conf'),
    '--cluster-node-timeout',
    String(nodeTimeoutMs),
    // a replica takes over however long its master has been gone
    '--cluster-replica-validity-factor',
    '0',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
    '--daemonize',
    'no',
    '--logfile',
    '',
  ];
}

async function startServer(dir: string, port: number, nodeTimeoutMs: number): Promise<Proc> {
  const p = runProcess(REDIS_SERVER, serverArgs(dir, port, nodeTimeoutMs));
  try {
    const state = await until(
      () => {
        if (/Ready to accept connections/.test(p.output())) return 'ready';
        return p.child.exitCode !== null || p.child.signalCode !== null ? 'exited' : undefined;
      },
      { what: `redis-server on ${port} to be ready`, timeoutMs: 15_000, intervalMs: 25 },
    );
    if (state === 'exited') throw new Error(`redis-server on ${port} exited:\n${p.output()}`);
    return p;
  } catch (err) {
    await p.stop('SIGKILL');
    throw err;
  }
}

/** Starts and creates a Redis Cluster; stop it with `stop()` or `await using`. */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  requireRedis();
  const masters = options.masters ?? 3;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
  const root = mkdtempSync(join(tmpdir(), 'sipedge-redis-'));
  const ports: number[] = [];
  for (let i = 0; i < masters * 2; i++) ports.push(await peerPort({ span: 2 }));
  const procs = new Map<number, Proc>();
  const dirOf = (port: number): string => join(root, String(port));

  const stop = async (): Promise<void> => {
    await Promise.all([...procs.values()].map((p) => p.stop()));
    procs.clear();
    rmSync(root, { recursive: true, force: true });
  };

  const masterPorts = async (port: number): Promise<number[]> => {
    const nodes = await redisCli(port, 'cluster', 'nodes');
    const found: number[] = [];
    for (const line of nodes.split('\n')) {
      const [, address, flags] = line.split(' ');
      if (flags === undefined || address === undefined) continue;
      if (!flags.split(',').includes('master') || flags.includes('fail')) continue;
      if (line.split(' ').length < 9) continue; // a master without slots
      found.push(Number(address.split(':')[1]?.split('@')[0]));
    }
    return found.sort((a, b) => a - b);
  };

  const waitOk = async (timeoutMs = 20_000): Promise<void> => {
    await until(
      async () => {
        const views: string[] = [];
        for (const port of procs.keys()) {
          const info = await redisCli(port, 'cluster', 'info').catch(() => '');
          if (!info.includes('cluster_state:ok')) return false;
          const seen = await masterPorts(port).catch(() => []);
          // a killed master is still listed until its replica takes over
          if (!seen.every((p) => procs.has(p))) return false;
          views.push(seen.join(','));
        }
        return (
          views.length > 0 && views.every((v) => v === views[0] && v.split(',').length === masters)
        );
      },
      { what: 'every redis instance to say cluster_state:ok', timeoutMs, intervalMs: 100 },
    );
  };

  try {
    for (const port of ports) {
      mkdirSync(dirOf(port));
      procs.set(port, await startServer(dirOf(port), port, nodeTimeoutMs));
    }
    await run(
      REDIS_CLI,
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    await waitOk();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`),
    ports,
    running: (port) => procs.has(port),
    async kill(port) {
      const p = procs.get(port);
      if (p === undefined) return;
      procs.delete(port);
      await p.stop('SIGKILL');
    },
    async restart(port) {
      if (procs.has(port)) return;
      procs.set(port, await startServer(dirOf(port), port, nodeTimeoutMs));
    },
    async masterOf(key) {
      const [any] = procs.keys();
      if (any === undefined) throw new Error('no redis instance runs');
      const slot = Number(await redisCli(any, 'cluster', 'keyslot', key));
      for (const line of (await redisCli(any, 'cluster', 'nodes')).split('\n')) {
        const fields = line.split(' ');
        const flags = fields[2] ?? '';
        if (!flags.includes('master') || flags.includes('fail')) continue;
        for (const range of fields.slice(8)) {
          const [lo, hi] = range.split('-').map(Number);
          if (lo !== undefined && slot >= lo && slot <= (hi ?? lo)) {
            return Number(fields[1]?.split(':')[1]?.split('@')[0]);
          }
        }
      }
      throw new Error(`no master serves slot ${slot} of ${key}`);
    },
    waitOk,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
