/**
 * What the hostile e2e tests do to a node as an attacker would, on loopback: many TCP
 * connections from chosen 127.x source addresses (each source address is one "attacker"),
 * bytes dripped into them, and a UDP sink for MI event notifications. Every socket an `Attack`
 * makes is tracked and closed by `closeAll`. What must still work afterwards is health.ts.
 */
import dgram from 'node:dgram';
import { connect, type Socket } from 'node:net';
import type { Address } from './node.js';

export class Attack {
  readonly sockets: Socket[] = [];

  /**
   * `count` TCP connections to `to` from `from` (a 127.x address), `parallel` at a time.
   * Resolves with the sockets that connected (the server may close them at once).
   */
  async connect(to: Address, from: string, count: number, parallel = 128): Promise<Socket[]> {
    const out: Socket[] = [];
    for (let i = 0; i < count; i += parallel) {
      const batch = Array.from({ length: Math.min(parallel, count - i) }, () =>
        this.#one(to, from),
      );
      for (const s of await Promise.all(batch)) if (s !== undefined) out.push(s);
    }
    return out;
  }

  #one(to: Address, from: string): Promise<Socket | undefined> {
    const s = connect({ host: to.host, port: to.port, localAddress: from });
    this.sockets.push(s);
    s.on('error', () => {});
    return new Promise((resolve) => {
      s.once('connect', () => resolve(s));
      s.once('close', () => resolve(undefined));
    });
  }

  /** Writes the bytes of `data` one per `everyMs` into each socket until it closes or ends. */
  drip(sockets: readonly Socket[], data: Buffer, everyMs: number): () => void {
    let i = 0;
    const timer = setInterval(() => {
      if (i >= data.length) return;
      const byte = data.subarray(i, ++i);
      for (const s of sockets) if (!s.destroyed) s.write(byte);
    }, everyMs);
    return () => clearInterval(timer);
  }

  closeAll(): void {
    for (const s of this.sockets.splice(0)) s.destroy();
  }

  [Symbol.dispose](): void {
    this.closeAll();
  }
}

/** Resolves once every socket is closed (by the server), rejects after `ms`. */
export async function allClosed(sockets: readonly Socket[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.all(
        sockets.map((s) =>
          s.destroyed ? undefined : new Promise<void>((r) => s.once('close', () => r())),
        ),
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const open = sockets.filter((s) => !s.destroyed).length;
          reject(new Error(`${open} of ${sockets.length} connections still open after ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A UDP socket that collects MI event notifications (`event_subscribe … udp:host:port`). */
export class EventSink {
  readonly #sock = dgram.createSocket('udp4');
  readonly received: Array<{ method: string; params: Record<string, unknown> }> = [];
  port = 0;

  async bind(): Promise<this> {
    this.#sock.on('message', (buf) => {
      try {
        this.received.push(JSON.parse(buf.toString('utf8')));
      } catch {
        // not JSON: not an event
      }
    });
    await new Promise<void>((r) => this.#sock.bind(0, '127.0.0.1', () => r()));
    this.port = this.#sock.address().port;
    return this;
  }

  get socket(): string {
    return `udp:127.0.0.1:${this.port}`;
  }

  close(): void {
    this.#sock.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
