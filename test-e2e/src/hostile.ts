/**
 * What the hostile e2e tests do to a node as an attacker would, on loopback: many TCP
 * connections from chosen 127.x source addresses (each source address is one "attacker"),
 * bytes dripped into them, SIP OPTIONS over a fresh TCP connection, and a UDP sink for MI
 * event notifications. Every socket made here is tracked and closed by `closeAll`.
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

let seq = 0;

/** An OPTIONS for `to` (sent over `transport` from `from`); its Call-ID is returned too. */
export function optionsRequest(
  to: Address,
  transport: 'UDP' | 'TCP',
  from: Address,
  extra: string[] = [],
): { text: string; callId: string } {
  const callId = `hostile-${process.pid}-${++seq}`;
  const text = [
    `OPTIONS sip:${to.host}:${to.port} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${from.host}:${from.port};branch=z9hG4bK${callId};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@e2e.test>;tag=${seq}`,
    `To: <sip:${to.host}:${to.port}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return { text, callId };
}

/**
 * One OPTIONS over a new TCP connection from `from`: the status of the answer, or undefined
 * when none came in `timeoutMs` (or the connection was refused or closed).
 */
export async function tcpOptions(
  to: Address,
  from = '127.0.0.1',
  timeoutMs = 2000,
): Promise<number | undefined> {
  const s = connect({ host: to.host, port: to.port, localAddress: from });
  s.on('error', () => {});
  try {
    return await new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      let text = '';
      s.once('connect', () => {
        s.write(optionsRequest(to, 'TCP', { host: from, port: s.localPort ?? 0 }).text);
      });
      s.on('data', (d) => {
        text += d.toString('latin1');
        const m = /^SIP\/2\.0 (\d{3}) /.exec(text);
        if (m !== null && text.includes('\r\n\r\n') && Number(m[1]) >= 200) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      s.once('close', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
  } finally {
    s.destroy();
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
