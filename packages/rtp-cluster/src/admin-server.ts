/**
 * Serves the admin protocol (`admin.ts`) on a unix stream socket, as rtp_cluster does: one
 * command per line, the connection stays open until `quit`. Lines are bounded, connections are
 * bounded, commands of one connection run in order.
 */
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { type AdminContext, adminCommand } from './admin.js';

export interface AdminServerOptions {
  /** Socket path (a leading `unix:` is accepted). */
  readonly path: string;
  readonly context: AdminContext;
  readonly maxLineBytes?: number;
  readonly maxConnections?: number;
}

export class AdminServer {
  readonly #options: AdminServerOptions;
  readonly #path: string;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#path = options.path.replace(/^unix:/, '');
  }

  get path(): string {
    return this.#path;
  }

  async start(): Promise<void> {
    // a stale socket file from a previous run (never a regular file)
    if (existsSync(this.#path) && lstatSync(this.#path).isSocket()) unlinkSync(this.#path);
    const server = createServer((s) => this.#accept(s));
    server.maxConnections = this.#options.maxConnections ?? 32;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((r) => server.close(() => r()));
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    const maxLine = this.#options.maxLineBytes ?? 4096;
    let buffered = '';
    let queue = Promise.resolve();
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        if (line.trim() !== '') {
          queue = queue.then(async () => {
            if (socket.destroyed) return;
            const reply = await adminCommand(this.#options.context, line);
            if (reply.text !== '') socket.write(reply.text);
            if (reply.close) socket.end();
          });
        }
        nl = buffered.indexOf('\n');
      }
      if (buffered.length > maxLine) {
        socket.end('ERROR: line too long\n');
        buffered = '';
      }
    });
  }
}
