/** One sipedge-rtp-relay process of an e2e cluster. */
import { fileURLToPath } from 'node:url';
import { RtppClient } from '@sipedge/rtpp';
import { type Proc, startNodeBin } from '@sipedge/test-utils';
import { ROOT, stopOnExit, tail } from './processes.js';

export const RELAY_BIN = fileURLToPath(new URL('apps/rtp-relay/dist/src/bin.js', ROOT));

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
