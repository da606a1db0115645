/** Small raw-socket helpers for the integration tests: every wait is bounded. */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** A UDP socket that queues what it receives. */
export class UdpPeer {
  readonly socket: UdpSocket;
  readonly #queue: Buffer[] = [];
  #waiter: ((b: Buffer) => void) | undefined;

  private constructor(socket: UdpSocket) {
    this.socket = socket;
    socket.on('message', (m) => {
      const w = this.#waiter;
      if (w !== undefined) {
        this.#waiter = undefined;
        w(m);
      } else {
        this.#queue.push(m);
      }
    });
  }

  static async open(type: 'udp4' | 'udp6' = 'udp4'): Promise<UdpPeer> {
    const s = createSocket(type);
    await new Promise<void>((r) => s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
    return new UdpPeer(s);
  }

  send(text: string | Buffer, port: number, host = '127.0.0.1'): void {
    this.socket.send(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, port, host);
  }

  next(ms = 2000): Promise<string> {
    const q = this.#queue.shift();
    if (q !== undefined) return Promise.resolve(q.toString('latin1'));
    return withTimeout(
      new Promise<Buffer>((r) => {
        this.#waiter = r;
      }),
      ms,
      'udp reply',
    ).then((b) => b.toString('latin1'));
  }

  get queued(): number {
    return this.#queue.length;
  }

  close(): void {
    this.socket.close();
  }
}

/** Connects a stream socket to a path or host:port. */
export function streamConnect(
  target: { path: string } | { host: string; port: number },
): Promise<Socket> {
  return withTimeout(
    new Promise<Socket>((resolve, reject) => {
      const s = connect(target as never);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    }),
    2000,
    'connect',
  );
}

/** Everything a stream socket receives until the peer closes it. */
export function readToEnd(s: Socket, ms = 2000): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      let out = '';
      s.on('data', (d: Buffer) => {
        out += d.toString('latin1');
      });
      s.once('close', () => resolve(out));
      s.once('error', reject);
    }),
    ms,
    'stream close',
  );
}

/** Reads from a stream socket until `count` newlines have arrived. */
export function readLines(s: Socket, count: number, ms = 2000): Promise<string[]> {
  return withTimeout(
    new Promise<string[]>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer) => {
        out += d.toString('latin1');
        const lines = out.split('\n');
        if (lines.length > count) {
          s.off('data', onData);
          resolve(lines.slice(0, count));
        }
      };
      s.on('data', onData);
      s.once('error', reject);
    }),
    ms,
    `${count} lines`,
  );
}

/** A fresh temp directory for unix sockets, removed by the returned function. */
export function tempDir(): { dir: string; path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rtpp-test-'));
  return {
    dir,
    path: (name) => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
