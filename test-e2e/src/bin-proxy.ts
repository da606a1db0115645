/**
 * A BIN-aware TCP proxy for one directed link between two cluster nodes. The sending node's
 * neighbour url points at the proxy, which forwards to the receiving node's BIN listener.
 * BIN nodes keep one outbound connection per peer (replies go on the replier's own
 * connection), so a link A→B is one proxy and a full partition of A and B is two.
 *
 * Both directions are cut into whole packets by @sipedge/clusterer's BinFramer, so a fault
 * always falls on a packet boundary: `drop()` discards whole packets (the TCP connections stay
 * up, like a silent network), `delay(ms)` holds each packet back (order kept), `pass()` heals,
 * `cut()` resets the live connections (the sender reconnects on its next packet).
 */
import net from 'node:net';
import { BinFramer } from '@sipedge/clusterer';

export type LinkMode = 'pass' | 'drop' | 'delay';

export interface LinkTarget {
  host: string;
  port: number;
}

export interface LinkCounters {
  connections: number;
  forwarded: number;
  dropped: number;
  delayed: number;
  framingErrors: number;
}

interface Pipe {
  client: net.Socket;
  upstream: net.Socket;
}

export class BinLinkProxy {
  readonly name: string;
  private server: net.Server | undefined;
  private target: LinkTarget | undefined;
  private mode: LinkMode = 'pass';
  private delayMs = 0;
  private readonly pipes = new Set<Pipe>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  readonly counters: LinkCounters = {
    connections: 0,
    forwarded: 0,
    dropped: 0,
    delayed: 0,
    framingErrors: 0,
  };
  port = 0;

  constructor(name: string, target?: LinkTarget) {
    this.name = name;
    this.target = target;
  }

  /** The url a node uses as its neighbour's BIN address. */
  get url(): string {
    return `bin:127.0.0.1:${this.port}`;
  }

  get state(): LinkMode {
    return this.mode;
  }

  /** Listens on 127.0.0.1 on a port the kernel picks; resolves with it. */
  async listen(): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Where new connections go (a restarted node may listen elsewhere). */
  setTarget(target: LinkTarget): void {
    this.target = target;
  }

  pass(): void {
    this.mode = 'pass';
  }

  drop(): void {
    this.mode = 'drop';
  }

  delay(ms: number): void {
    this.mode = 'delay';
    this.delayMs = ms;
  }

  /** Resets every live connection through the link (both sockets). */
  cut(): void {
    for (const p of this.pipes) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pipes.clear();
  }

  async close(): Promise<void> {
    this.cut();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const s = this.server;
    this.server = undefined;
    if (s !== undefined) await new Promise<void>((r) => s.close(() => r()));
  }

  private accept(client: net.Socket): void {
    const target = this.target;
    if (target === undefined) {
      client.destroy();
      return;
    }
    this.counters.connections++;
    client.setNoDelay(true);
    client.pause();
    const upstream = net.connect({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    const pipe: Pipe = { client, upstream };
    this.pipes.add(pipe);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.pipes.delete(pipe);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.once('connect', () => client.resume());
    this.forward(client, upstream, end);
    this.forward(upstream, client, end);
  }

  /** Frames `from`'s bytes into BIN packets and hands each to `to` as the link mode says. */
  private forward(from: net.Socket, to: net.Socket, end: () => void): void {
    const framer = new BinFramer();
    // packets held by a delay, in order; a packet never overtakes one held before it
    const held: Array<{ due: number; packet: Buffer }> = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = (): void => {
      if (timer !== undefined) this.timers.delete(timer);
      timer = undefined;
      const now = Date.now();
      while (held.length > 0 && (held[0]?.due ?? 0) <= now) {
        const h = held.shift();
        if (h !== undefined && !to.destroyed) {
          to.write(h.packet);
          this.counters.forwarded++;
        }
      }
      const next = held[0];
      if (next !== undefined) {
        timer = setTimeout(flush, Math.max(0, next.due - now));
        this.timers.add(timer);
      }
    };
    from.on('data', (chunk: Buffer) => {
      const r = framer.push(chunk);
      for (const packet of r.packets) {
        if (this.mode === 'drop') {
          this.counters.dropped++;
          continue;
        }
        const wait = this.mode === 'delay' ? this.delayMs : 0;
        if (wait === 0 && held.length === 0) {
          to.write(packet);
          this.counters.forwarded++;
          continue;
        }
        if (wait > 0) this.counters.delayed++;
        const last = held[held.length - 1]?.due ?? 0;
        held.push({ due: Math.max(Date.now() + wait, last), packet });
        if (timer === undefined) {
          timer = setTimeout(flush, wait);
          this.timers.add(timer);
        }
      }
      if (r.error !== undefined) {
        this.counters.framingErrors++;
        end();
      }
    });
  }
}
