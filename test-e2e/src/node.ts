/** One cluster-node process of an e2e cluster: its config, ports, MI client, faults, restarts. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MiClient, type MiClientOptions } from '@sipedge/mi';
import { type Proc, startNodeBin, until } from '@sipedge/test-utils';
import { stringify } from 'yaml';
import { ROOT, stopOnExit, tail } from './processes.js';

export const NODE_BIN = fileURLToPath(new URL('apps/cluster-node/dist/src/bin.js', ROOT));

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

export interface Address {
  host: string;
  port: number;
}

const LINE = (name: string) => new RegExp(`^cluster-node\\[${name}\\]: (.*)$`, 'gm');

function splitHostPort(s: string): Address {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
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
  /** Every SIP listener the node printed, by proto (`tls`, `wss`…): the first of each. */
  readonly sip = new Map<string, Address>();
  /** The CA (and client certificate) for an MI served over HTTPS (`mi.tls`). */
  miTls: MiClientOptions['tls'];
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
      let m = /^SIP (udp|tcp|ws|tls|wss) (\S+)$/.exec(l);
      if (m !== null) {
        const a = splitHostPort(m[2] ?? '');
        if (!this.sip.has(m[1] ?? '')) this.sip.set(m[1] ?? '', a);
        if (m[1] === 'udp') this.sipUdp ??= a;
        else if (m[1] === 'tcp') this.sipTcp ??= a;
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
      const a = this.sip.get(l.proto);
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
    this.client ??= new MiClient({
      url: this.miUrl,
      timeoutMs: 10_000,
      ...(this.miTls === undefined ? {} : { tls: this.miTls }),
      ...(typeof this.config.mi.token === 'string' ? { token: this.config.mi.token } : {}),
    });
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
