/**
 * The disconnect-notify relay (docs/protocols/rtpproxy.md §5.5): network members cannot reach the
 * SIP proxy's local notification socket, so the balancer hands them `tcp:%%CC_SELF%%:<port>` and a
 * tag `<socket suffix> <original tag>`; when a session times out the member connects here and sends
 * that tag as a line; the relay forwards `<original tag>\n` to the unix socket
 * `dest_socket_prefix + suffix`.
 *
 * Only member addresses may connect; lines are bounded; one persistent connection per
 * destination, re-opened when it breaks; nothing is buffered without bound.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { type Logger, noopLogger, plainAddress } from '@sipedge/core';

export interface DisconnectRelayOptions {
  /** `ip:port` to listen on (`inbound_address`). Port 0 picks a free one. */
  readonly host: string;
  readonly port: number;
  /** `dest_socket_prefix`, with or without a `unix:` prefix. */
  readonly destSocketPrefix: string;
  /** Addresses allowed to connect (the members' IPs); more can be set later with `allow`. */
  readonly allowed?: Iterable<string>;
  readonly logger?: Logger;
  readonly maxLineBytes?: number;
  readonly maxPendingPerDestination?: number;
}

export interface DisconnectRelayStats {
  relayed: number;
  refusedConnections: number;
  badLines: number;
  dropped: number;
}

interface Destination {
  socket: Socket | undefined;
  connecting: boolean;
  pending: string[];
}

export class DisconnectRelay {
  readonly stats: DisconnectRelayStats = {
    relayed: 0,
    refusedConnections: 0,
    badLines: 0,
    dropped: 0,
  };
  readonly #options: DisconnectRelayOptions;
  readonly #log: Logger;
  #allowed = new Set<string>();
  #server: Server | undefined;
  readonly #inbound = new Set<Socket>();
  readonly #destinations = new Map<string, Destination>();
  readonly #maxLine: number;
  readonly #maxPending: number;

  constructor(options: DisconnectRelayOptions) {
    this.#options = options;
    this.#log = options.logger ?? noopLogger;
    this.#maxLine = options.maxLineBytes ?? 4096;
    this.#maxPending = options.maxPendingPerDestination ?? 1000;
    this.allow(options.allowed ?? []);
  }

  allow(addresses: Iterable<string>): void {
    this.#allowed = new Set([...addresses].map(plainAddress));
  }

  /** The port actually bound (after `start`). */
  get port(): number {
    const a = this.#server?.address();
    return typeof a === 'object' && a !== null ? a.port : this.#options.port;
  }

  async start(): Promise<void> {
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    for (const s of this.#inbound) s.destroy();
    for (const d of this.#destinations.values()) d.socket?.destroy();
    this.#destinations.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((r) => server.close(() => r()));
  }

  #accept(socket: Socket): void {
    if (!this.#allowed.has(plainAddress(socket.remoteAddress ?? ''))) {
      this.stats.refusedConnections++;
      this.#log.warn({ from: socket.remoteAddress }, 'notify relay: connection from a non-member');
      socket.destroy();
      return;
    }
    this.#inbound.add(socket);
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        this.#line(buffered.slice(0, nl).replace(/\r$/, ''));
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
      }
      if (buffered.length > this.#maxLine) {
        this.stats.badLines++;
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => this.#inbound.delete(socket));
  }

  #line(line: string): void {
    const space = line.indexOf(' ');
    if (space <= 0 || space === line.length - 1 || line.slice(0, space).includes('/')) {
      this.stats.badLines++;
      return;
    }
    const suffix = line.slice(0, space);
    const tag = line.slice(space + 1);
    const prefix = this.#options.destSocketPrefix.replace(/^unix:/, '');
    this.#send(prefix + suffix, `${tag}\n`);
  }

  #send(path: string, data: string): void {
    let d = this.#destinations.get(path);
    if (d === undefined) {
      d = { socket: undefined, connecting: false, pending: [] };
      this.#destinations.set(path, d);
    }
    if (d.socket !== undefined && !d.connecting && d.socket.writable) {
      d.socket.write(data);
      this.stats.relayed++;
      return;
    }
    if (d.pending.length >= this.#maxPending) {
      this.stats.dropped++;
      return;
    }
    d.pending.push(data);
    if (!d.connecting) this.#connect(path, d);
  }

  #connect(path: string, d: Destination): void {
    d.connecting = true;
    const socket = createConnection(path);
    d.socket = socket;
    socket.on('connect', () => {
      d.connecting = false;
      for (const data of d.pending) {
        socket.write(data);
        this.stats.relayed++;
      }
      d.pending = [];
    });
    socket.on('error', (err) => {
      this.#log.warn({ err, path }, 'notify relay: destination failed');
      if (d.connecting) {
        // could not connect: the notifications are lost, as rtpproxy's own are
        this.stats.dropped += d.pending.length;
        d.pending = [];
      }
    });
    socket.on('close', () => {
      d.connecting = false;
      if (d.socket === socket) d.socket = undefined;
    });
  }
}
