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
 * - Readiness goes through MI: `node_info` answers, and `clusterer_list` shows every running
 *   neighbour `Up`.
 * - Faults: SIGKILL, SIGSTOP/SIGCONT, graceful stop, restart of a node, relay kill, and link
 *   faults through the proxies.
 * - `await using` disposes of everything, even when a test fails. Processes are stopped by pid
 *   (SIGTERM, then SIGKILL after a bounded grace), proxies are closed, and the dir is removed
 *   (kept when SIPEDGE_E2E_KEEP is set).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiClient } from '@sipedge/mi';
import { RtppClient } from '@sipedge/rtpp';
import { notYet, type Proc, peerPort, startNodeBin, until } from '@sipedge/test-utils';
import { stringify } from 'yaml';
import { BinLinkProxy } from './bin-proxy.js';

const ROOT = new URL(import.meta.url.includes('/dist/') ? '../../../' : '../../', import.meta.url);
export const NODE_BIN = fileURLToPath(new URL('apps/cluster-node/dist/src/bin.js', ROOT));
export const RELAY_BIN = fileURLToPath(new URL('apps/rtp-relay/dist/src/bin.js', ROOT));

/** A node's YAML config as a plain object (the cluster-node schema). */
export type NodeConfigObject = Record<string, unknown> & {
  node: { id: number; name: string };
  sip: { listeners: Array<{ proto: string; address: string }> };
  mi: Record<string, unknown>;
  clusterer: Record<string, unknown> & {
    listen: string;
    neighbours: Array<{ node_id: number; url: string }>;
  };
  rtp?: Record<string, unknown> & { relays: Array<Record<string, unknown>> };
  ha?: Record<string, unknown>;
};

export interface ClusterOptions {
  /** Number of nodes, ids 1..n. */
  nodes: number;
  /** sipedge-rtp-relay processes every node balances over (default 0: no `rtp` section). */
  relays?: number;
  /** BIN links through fault-injecting proxies (default true). */
  proxy?: boolean;
  /** Ids started by `startCluster` (default all); the others wait for `node(id).start()`. */
  start?: number[];
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

export interface Address {
  host: string;
  port: number;
}

const LINE = (name: string) => new RegExp(`^cluster-node\\[${name}\\]: (.*)$`, 'gm');

function splitHostPort(s: string): Address {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

/**
 * Safety net for processes a test started: when the test process exits (a vitest timeout
 * abandons the test body, so its `await using` never runs), every tracked process still alive
 * is SIGKILLed by pid (by process group with `group`).
 */
const live = new Map<Proc, boolean>();
let exitHooked = false;
export function stopOnExit(p: Proc, group = false): void {
  live.set(p, group);
  void p.exit.then(() => live.delete(p));
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const [q, g] of live) {
      try {
        process.kill(g ? -q.pid : q.pid, 'SIGKILL');
      } catch {}
    }
  });
}

function tail(text: string, lines: number): string {
  const all = text.split('\n');
  return all.slice(Math.max(0, all.length - lines - 1)).join('\n');
}

/** One cluster-node process (and its restarts). */
export class E2eNode {
  readonly id: number;
  readonly name: string;
  readonly file: string;
  readonly config: NodeConfigObject;
  proc: (Proc & { ready: string }) | undefined;
  paused = false;
  /** Output of earlier runs of this node (before restarts). */
  private readonly history: string[] = [];
  private client: MiClient | undefined;
  sipUdp: Address | undefined;
  sipTcp: Address | undefined;
  miUrl = '';
  /** The node's real BIN listener (`bin:127.0.0.1:port`). */
  binUrl = '';
  rtpControl: string | undefined;
  /** Called with the node's real BIN address after each start (re-targets the proxies). */
  onBin: ((a: Address) => void) | undefined;
  private readonly readyMs: number;

  constructor(id: number, file: string, config: NodeConfigObject, readyMs: number) {
    this.id = id;
    this.name = config.node.name;
    this.file = file;
    this.config = config;
    this.readyMs = readyMs;
  }

  get running(): boolean {
    const p = this.proc;
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  }

  get pid(): number {
    if (this.proc === undefined) throw new Error(`${this.name} was never started`);
    return this.proc.pid;
  }

  get mi(): MiClient {
    if (this.client === undefined) throw new Error(`${this.name} has no MI yet (not started)`);
    return this.client;
  }

  call<T = unknown>(method: string, params?: Record<string, unknown> | unknown[]): Promise<T> {
    return this.mi.call(method, params as never) as Promise<T>;
  }

  write(): void {
    writeFileSync(this.file, stringify(this.config));
  }

  /** Starts the process and waits for `ready` and for MI `node_info`. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    if (this.proc !== undefined) this.history.push(this.proc.output());
    this.write();
    const p = await startNodeBin(
      NODE_BIN,
      ['--config', this.file],
      /ready pid=(\d+)/,
      this.readyMs,
    );
    stopOnExit(p);
    this.proc = p;
    this.paused = false;
    const printed = [...p.output().matchAll(LINE(this.name))].map((m) => m[1] ?? '');
    for (const l of printed) {
      let m = /^SIP (udp|tcp) (\S+)$/.exec(l);
      if (m !== null) {
        const a = splitHostPort(m[2] ?? '');
        if (m[1] === 'udp') this.sipUdp ??= a;
        else this.sipTcp ??= a;
        continue;
      }
      m = /^BIN (bins?:\S+)$/.exec(l);
      if (m !== null) this.binUrl = m[1] ?? '';
      m = /^MI (http\S+)$/.exec(l);
      if (m !== null) this.miUrl = m[1] ?? '';
      m = /^rtp control (\S+)$/.exec(l);
      if (m !== null) this.rtpControl ??= m[1];
    }
    // pin every port the node picked, so a restart comes back on the same addresses
    this.config.sip.listeners = this.config.sip.listeners.map((l) => {
      const a = l.proto === 'udp' ? this.sipUdp : this.sipTcp;
      return a !== undefined && l.address.endsWith(':0')
        ? { ...l, address: `${a.host}:${a.port}` }
        : l;
    });
    this.config.mi.port = Number(new URL(this.miUrl).port);
    this.config.clusterer.listen = this.binUrl;
    if (this.config.rtp !== undefined && this.rtpControl !== undefined) {
      this.config.rtp.control_socket = this.rtpControl;
    }
    this.write();
    this.onBin?.(splitHostPort(this.binUrl.replace(/^bins?:/, '')));
    this.client ??= new MiClient({ url: this.miUrl, timeoutMs: 10_000 });
    await until(
      async () => {
        await this.call('node_info');
        return true;
      },
      { what: `${this.name} to answer node_info`, timeoutMs: this.readyMs },
    );
  }

  /** Sends `signal` (SIGKILL by default) and waits for the process to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const p = this.proc;
    if (p === undefined || !this.running) return p?.child.exitCode ?? null;
    process.kill(p.pid, signal);
    return p.exit;
  }

  /** SIGSTOP: the process freezes, its sockets stay open. */
  pause(): void {
    if (!this.running) throw new Error(`${this.name} is not running`);
    process.kill(this.pid, 'SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.running) return;
    process.kill(this.pid, 'SIGCONT');
    this.paused = false;
  }

  /** SIGTERM, SIGKILL after 5 s; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.paused) this.resume();
    return (await this.proc?.stop('SIGTERM')) ?? null;
  }

  /** Graceful stop (or `SIGKILL` with `hard`), then start again on the same ports. */
  async restart(hard = false): Promise<void> {
    if (hard) await this.kill('SIGKILL');
    else await this.stop();
    await this.start();
  }

  output(): string {
    return [...this.history, this.proc?.output() ?? ''].join('\n--- restart ---\n');
  }

  logs(lines = 40): string {
    const state = this.proc === undefined ? 'never started' : this.running ? 'running' : 'exited';
    return `--- ${this.name} (${state}${this.proc === undefined ? '' : `, pid ${this.proc.pid}`}) ---\n${tail(this.output(), lines)}`;
  }

  /** Disposal: closes the MI client and stops the process. */
  async dispose(): Promise<void> {
    this.client?.close();
    if (this.paused) this.resume();
    await this.proc?.stop('SIGTERM');
  }
}

/** One sipedge-rtp-relay process. */
export class E2eRelay {
  readonly name: string;
  readonly proc: Proc & { ready: string };
  /** Its control socket, `udp:127.0.0.1:port`. */
  readonly spec: string;
  readonly portMin: number;
  readonly portMax: number;
  private client: RtppClient | undefined;

  constructor(name: string, proc: Proc & { ready: string }, portMin: number, portMax: number) {
    this.name = name;
    this.proc = proc;
    this.spec = proc.ready;
    this.portMin = portMin;
    this.portMax = portMax;
  }

  /** An rtpproxy client straight to this relay (bypassing the cluster). */
  get rtpp(): RtppClient {
    this.client ??= new RtppClient({ socket: this.spec, timeoutMs: 2000 });
    return this.client;
  }

  owns(port: number): boolean {
    return port >= this.portMin && port <= this.portMax;
  }

  async kill(): Promise<void> {
    await this.proc.stop('SIGKILL');
  }

  logs(lines = 20): string {
    return `--- ${this.name} (pid ${this.proc.pid}) ---\n${tail(this.proc.output(), lines)}`;
  }

  async dispose(): Promise<void> {
    this.client?.destroy();
    await this.proc.stop('SIGTERM');
  }
}

/** Media port ranges: distinct per relay, below the ephemeral range, spread by pid. */
let nextMediaBase = 12_000 + (process.pid % 16) * 1000;
function mediaRange(size = 400): [number, number] {
  if (nextMediaBase + size > 32_000) nextMediaBase = 12_000;
  const min = nextMediaBase;
  nextMediaBase += size;
  return [min, min + size - 1];
}

export async function startRelay(name: string, logLevel = 'warn'): Promise<E2eRelay> {
  const [min, max] = mediaRange();
  const p = await startNodeBin(
    RELAY_BIN,
    ['-s', 'udp:127.0.0.1:0', '-m', String(min), '-M', String(max), '--log-level', logLevel],
    /sipedge-rtp-relay ready control=([^\s,]+)/,
  );
  stopOnExit(p);
  return new E2eRelay(name, p, min, max);
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
