/**
 * `startCluster()`: cluster-node and sipedge-rtp-relay processes on loopback, for end-to-end
 * tests and benchmarks.
 *
 * - Configs are written to a temp dir (one YAML file per node). Every port the programs can
 *   bind themselves (SIP, MI, BIN, the rtp control socket, the relays' control sockets) is
 *   asked as port 0 and read back from what the program prints. After the first start, the
 *   config file is rewritten with the ports the node got, so a restart comes back on them.
 * - With `proxy` (the default), every directed BIN link A→B goes through a `BinLinkProxy`. A's
 *   neighbour url for B is the proxy, and the proxy forwards to B's real listener. That is how
 *   links are delayed, dropped and partitioned. Without it, every node's BIN url is configured on
 *   the others before any starts: those ports come from test-utils `peerPort()`.
 * - With `tls`, every node also listens for SIP over TLS and WSS, with a certificate from a
 *   cluster CA made in the temp dir (`cluster.pki`).
 * - Readiness goes through MI: `node_info` answers, and `clusterer_list` shows every running
 *   neighbour `Up`.
 * - Faults: SIGKILL, SIGSTOP/SIGCONT, graceful stop, restart of a node, relay kill, and link
 *   faults through the proxies.
 * - `await using` disposes of everything, even when a test fails. Processes are stopped by pid
 *   (SIGTERM, then SIGKILL after a bounded grace), proxies are closed, and the dir is removed
 *   (kept when SIPEDGE_E2E_KEEP is set).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notYet, peerPort, until } from '@sipedge/test-utils';
import { BinLinkProxy } from './bin-proxy.js';
import { type Address, E2eNode, type NodeConfigObject } from './node.js';
import { type E2eRelay, startRelay } from './relay.js';
import { type ClusterPki, makeClusterPki } from './tls.js';

export interface ClusterOptions {
  /** Number of nodes, ids 1..n. */
  nodes: number;
  /** sipedge-rtp-relay processes every node balances over (default 0: no `rtp` section). */
  relays?: number;
  /** BIN links through fault-injecting proxies (default true). */
  proxy?: boolean;
  /** Ids started by `startCluster` (default all); the others wait for `node(id).start()`. */
  start?: number[];
  /**
   * SIP over TLS and WSS on every node besides UDP and TCP: a CA and a certificate per node
   * (`n1`…, for 127.0.0.1) are made in the cluster's dir, the node's `tls` section points at
   * them.
   */
  tls?: boolean;
  /** An rtpproxy control socket on every node (`rtp.control_socket`, port 0). */
  rtpControl?: boolean;
  /**
   * A floating service address and one sharing tag `vip/1` on every node; `active` is the
   * node configured `=active` (default none: every node starts backup).
   */
  ha?: { active?: number; onActive?: string; onBackup?: string };
  /** clusterer section overrides (seconds/ms as in the config). */
  clusterer?: Record<string, unknown>;
  /** logging.level (default `info`). */
  logLevel?: string;
  /** Last chance to change each node's config before it is written (add `usrloc:`…). */
  configure?: (config: NodeConfigObject, id: number) => void;
  /** Bound for one node to be ready (default 20 s). */
  readyMs?: number;
}

interface ClustererList {
  Clusters: Array<{ cluster_id: number; Nodes: Array<{ node_id: number; link_state: string }> }>;
}

export class Cluster {
  readonly dir: string;
  readonly nodes: E2eNode[] = [];
  readonly relays: E2eRelay[] = [];
  /** `${from}->${to}` → the proxy carrying from's packets to to. */
  readonly links = new Map<string, BinLinkProxy>();
  /** The floating service address, with `ha`. */
  serviceAddress: Address | undefined;
  /** The CA and node certificates, with `tls`. */
  pki: ClusterPki | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  node(id: number): E2eNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  get running(): E2eNode[] {
    return this.nodes.filter((n) => n.running);
  }

  link(from: number, to: number): BinLinkProxy {
    const l = this.links.get(`${from}->${to}`);
    if (l === undefined) throw new Error(`no proxied link ${from}->${to} (proxy: false?)`);
    return l;
  }

  /** Drops every packet between the two groups, both ways (connections stay up). */
  partition(a: number[], b: number[]): void {
    for (const x of a) {
      for (const y of b) {
        this.link(x, y).drop();
        this.link(y, x).drop();
      }
    }
  }

  /** Every link passes again. */
  heal(): void {
    for (const l of this.links.values()) l.pass();
  }

  /** Each of `ids` (default: the running nodes) sees every other of them `Up`. */
  async waitLinked(ids?: number[], ms = 30_000): Promise<void> {
    const want = ids ?? this.running.map((n) => n.id);
    await Promise.all(
      want.map((id) =>
        until(
          async () => {
            const r = await this.node(id).call<ClustererList>('clusterer_list');
            const nodes = r.Clusters.find((c) => c.cluster_id === 1)?.Nodes ?? [];
            const up = new Set(nodes.filter((n) => n.link_state === 'Up').map((n) => n.node_id));
            const missing = want.filter((x) => x !== id && !up.has(x));
            return missing.length === 0 || notYet(`not up: ${missing.join(',')}`);
          },
          { what: `node ${id} to see ${want.filter((x) => x !== id).join(',')} up`, timeoutMs: ms },
        ),
      ),
    );
  }

  /** `node` sees each of `ids` with link state `state` (`Down`, `Up`…). */
  async waitLinkState(node: number, ids: number[], state: string, ms = 30_000): Promise<void> {
    await until(
      async () => {
        const r = await this.node(node).call<ClustererList>('clusterer_list');
        const nodes = r.Clusters.find((c) => c.cluster_id === 1)?.Nodes ?? [];
        const bad = ids.filter((x) => nodes.find((n) => n.node_id === x)?.link_state !== state);
        return bad.length === 0 || notYet(`still not ${state}: ${bad.join(',')}`);
      },
      { what: `node ${node} to see ${ids.join(',')} ${state}`, timeoutMs: ms },
    );
  }

  /** The last `lines` lines of every process, for a failed test's message. */
  logs(lines = 40): string {
    return [...this.nodes.map((n) => n.logs(lines)), ...this.relays.map((r) => r.logs(lines))].join(
      '\n',
    );
  }

  private disposing: Promise<void> | undefined;

  /** Idempotent: `await using`, the vitest hook and a failed start may all call it. */
  [Symbol.asyncDispose](): Promise<void> {
    this.disposing ??= this.dispose();
    return this.disposing;
  }

  private async dispose(): Promise<void> {
    await Promise.all([
      ...this.nodes.map((n) => n.dispose()),
      ...this.relays.map((r) => r.dispose()),
    ]);
    await Promise.all([...this.links.values()].map((l) => l.close()));
    if (process.env.SIPEDGE_E2E_KEEP === undefined) {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/**
 * Inside a vitest test, also dispose of `resource` when the test finishes: a test that times
 * out is abandoned mid-body, so its `await using` never runs, but vitest still calls
 * `onTestFinished`. Outside a test (benchmarks) this does nothing.
 */
export async function disposeAfterTest(resource: AsyncDisposable): Promise<void> {
  if (process.env.VITEST === undefined) return;
  const { onTestFinished } = await import('vitest');
  try {
    onTestFinished(() => resource[Symbol.asyncDispose]());
  } catch {
    // not inside a running test (a beforeAll): the caller disposes
  }
}

/** A free-looking 127.0.0.x host for a service address (x in 2..254, spread by pid). */
function serviceHost(): string {
  return `127.0.0.${2 + ((process.pid + Math.floor(Math.random() * 250)) % 253)}`;
}

/**
 * Starts relays, proxies and nodes as the options say and waits until the started nodes see
 * each other up. On a failure, everything started so far is stopped before the error is thrown.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const cluster = new Cluster(mkdtempSync(join(tmpdir(), 'sipedge-e2e-')));
  await disposeAfterTest(cluster);
  try {
    const ids = Array.from({ length: options.nodes }, (_, i) => i + 1);
    const proxy = options.proxy ?? true;
    const readyMs = options.readyMs ?? 20_000;
    for (let i = 1; i <= (options.relays ?? 0); i++) {
      cluster.relays.push(await startRelay(`relay${i}`));
    }
    // BIN addresses: proxies (their port now, their target when the node is up), or free ports
    const bin = new Map<number, string>();
    if (proxy) {
      for (const a of ids) {
        for (const b of ids) {
          if (a === b) continue;
          const l = new BinLinkProxy(`${a}->${b}`);
          await l.listen();
          cluster.links.set(`${a}->${b}`, l);
        }
      }
    } else {
      for (const id of ids) bin.set(id, `bin:127.0.0.1:${await peerPort()}`);
    }
    if (options.ha !== undefined) {
      // every node is configured with it before any starts
      cluster.serviceAddress = { host: serviceHost(), port: await peerPort() };
    }
    if (options.tls === true) {
      cluster.pki = makeClusterPki(
        cluster.dir,
        ids.map((id) => `n${id}`),
      );
    }
    for (const id of ids) {
      const config: NodeConfigObject = {
        node: { id, name: `n${id}` },
        sip: {
          listeners: [
            { proto: 'udp', address: '127.0.0.1:0' },
            { proto: 'tcp', address: '127.0.0.1:0' },
          ],
        },
        mi: { port: 0 },
        metrics: { enabled: false },
        clusterer: {
          listen: proxy ? 'bin:127.0.0.1:0' : (bin.get(id) ?? ''),
          seed: id === 1,
          neighbours: ids
            .filter((m) => m !== id)
            .map((m) => ({
              node_id: m,
              url: proxy ? cluster.link(id, m).url : (bin.get(m) ?? ''),
            })),
          ping_interval: 1,
          ping_timeout: 500,
          node_timeout: 5,
          ...options.clusterer,
        },
        storage: { file: `./n${id}.sqlite` },
        logging: { level: options.logLevel ?? 'info', format: 'json' },
      };
      if (cluster.pki !== undefined) {
        config.sip.listeners.push(
          { proto: 'tls', address: '127.0.0.1:0' },
          { proto: 'wss', address: '127.0.0.1:0' },
        );
        config.tls = cluster.pki.section(`n${id}`);
      }
      if (cluster.relays.length > 0) {
        config.rtp = {
          relays: cluster.relays.map((r) => ({ name: r.name, socket: r.spec, weight: 10 })),
          heartbeat_interval: 200,
          ...(options.rtpControl === true ? { control_socket: 'udp:127.0.0.1:0' } : {}),
        };
      }
      const ha = options.ha;
      const sa = cluster.serviceAddress;
      if (ha !== undefined && sa !== undefined) {
        config.ha = {
          service_address: `${sa.host}:${sa.port}`,
          sharing_tag: ha.active === id ? 'vip/1=active' : 'vip/1',
          ...(ha.onActive === undefined ? {} : { on_active: ha.onActive }),
          ...(ha.onBackup === undefined ? {} : { on_backup: ha.onBackup }),
        };
      }
      options.configure?.(config, id);
      const node = new E2eNode(id, join(cluster.dir, `n${id}.yaml`), config, readyMs);
      if (proxy) {
        node.onBin = (a) => {
          for (const other of ids) if (other !== id) cluster.link(other, id).setTarget(a);
        };
      }
      node.write();
      cluster.nodes.push(node);
    }
    const first = options.start ?? ids;
    for (const id of first) await cluster.node(id).start();
    await cluster.waitLinked(first);
    return cluster;
  } catch (err) {
    const logs = cluster.logs(60);
    await cluster[Symbol.asyncDispose]();
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  }
}
