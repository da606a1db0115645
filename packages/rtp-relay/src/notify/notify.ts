/**
 * Session-timeout notifications (docs/protocols/rtpproxy.md §4): the `-n` allow-list, matching a
 * U's notify_socket against it, and delivery of `<tag>\n` over a unix or TCP stream socket.
 */
import net from 'node:net';
import { type Logger, noopLogger } from '@sipedge/core';

export const CC_SELF = '%%CC_SELF%%';

export type NotifyDestination =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/** One `-n` entry. `host` is `%%CC_SELF%%` for the wildcard form. */
export interface NotifyAllowEntry {
  readonly spec: string;
  readonly destination: NotifyDestination;
}

/** Parses a `-n` value: `unix:/path`, a bare `/path`, `tcp:host:port` or `tcp:%%CC_SELF%%:port`. */
export function parseNotifySpec(spec: string): NotifyAllowEntry {
  if (spec.startsWith('unix:')) {
    const path = spec.slice(5);
    if (path.length === 0) throw new Error(`notify socket "${spec}": empty path`);
    return { spec, destination: { kind: 'unix', path } };
  }
  if (spec.startsWith('tcp:')) {
    const rest = spec.slice(4);
    const colon = rest.lastIndexOf(':');
    const host = rest.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(rest.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`notify socket "${spec}": expected tcp:host:port`);
    }
    return { spec, destination: { kind: 'tcp', host, port } };
  }
  if (spec.startsWith('/')) return { spec, destination: { kind: 'unix', path: spec } };
  throw new Error(`notify socket "${spec}": expected unix:/path, /path or tcp:host:port`);
}

/**
 * The destination a U's notify_socket names, or undefined when it is not on the allow-list.
 * A bare path matches a `unix:` entry (rtpproxy 1.x/2.x form); `%%CC_SELF%%` becomes the IP the
 * command came from (`127.0.0.1` for unix and IPv6 control sockets).
 */
export function resolveNotifySocket(
  allow: readonly NotifyAllowEntry[],
  socket: string,
  senderIp: string | undefined,
): NotifyDestination | undefined {
  const wanted = socket.startsWith('/') ? `unix:${socket}` : socket;
  for (const entry of allow) {
    const spec = entry.spec.startsWith('/') ? `unix:${entry.spec}` : entry.spec;
    if (spec !== wanted) continue;
    const d = entry.destination;
    if (d.kind === 'tcp' && d.host === CC_SELF) {
      const host = senderIp !== undefined && net.isIPv4(senderIp) ? senderIp : '127.0.0.1';
      return { kind: 'tcp', host, port: d.port };
    }
    return d;
  }
  return undefined;
}

export interface Notifier {
  /** Sends one line (already `\n`-terminated); never throws, failures are logged and counted. */
  send(destination: NotifyDestination, line: string): void;
  close(): void;
}

function key(d: NotifyDestination): string {
  return d.kind === 'unix' ? `unix:${d.path}` : `tcp:${d.host}:${d.port}`;
}

interface Connection {
  socket: net.Socket | undefined;
  connected: boolean;
  queue: string[];
}

/**
 * Keeps one stream connection per destination and reuses it; a line whose write fails is resent
 * once on a fresh connection. At most `maxQueue` lines wait per destination (older ones dropped).
 */
export class StreamNotifier implements Notifier {
  readonly #conns = new Map<string, Connection>();
  readonly #log: Logger;
  readonly #maxQueue: number;
  #closed = false;
  /** Lines that could not be delivered. */
  failed = 0;
  delivered = 0;

  constructor(options: { logger?: Logger; maxQueue?: number } = {}) {
    this.#log = options.logger ?? noopLogger;
    this.#maxQueue = options.maxQueue ?? 1024;
  }

  send(destination: NotifyDestination, line: string): void {
    if (this.#closed) return;
    const k = key(destination);
    let c = this.#conns.get(k);
    if (c === undefined) {
      c = { socket: undefined, connected: false, queue: [] };
      this.#conns.set(k, c);
    }
    if (c.queue.length >= this.#maxQueue) {
      c.queue.shift();
      this.failed++;
    }
    c.queue.push(line);
    this.#pump(destination, k, c, 1);
  }

  #pump(d: NotifyDestination, k: string, c: Connection, retries: number): void {
    if (c.connected && c.socket !== undefined) {
      const lines = c.queue.splice(0);
      const sock = c.socket;
      for (const line of lines) {
        sock.write(line, (err) => {
          if (err === undefined || err === null) {
            this.delivered++;
            return;
          }
          this.#dead(c, sock);
          if (retries > 0 && !this.#closed) {
            // once more on a fresh connection
            c.queue.push(line);
            this.#pump(d, k, c, retries - 1);
          } else {
            this.failed++;
          }
        });
      }
      return;
    }
    if (c.socket !== undefined) return; // connecting; the connect handler pumps
    const sock =
      d.kind === 'unix'
        ? net.createConnection({ path: d.path })
        : net.createConnection({ host: d.host, port: d.port });
    c.socket = sock;
    let connected = false;
    sock.setNoDelay(true);
    sock.on('connect', () => {
      connected = true;
      if (c.socket !== sock) return;
      c.connected = true;
      this.#pump(d, k, c, retries);
    });
    sock.on('data', () => {}); // the peer is not expected to answer
    // the peer closed its side: this connection is done, the next line opens a new one
    sock.on('end', () => this.#dead(c, sock));
    sock.on('error', (err) => {
      this.#log.warn({ notify: k, err: err.message }, 'notify socket error');
    });
    sock.on('close', () => {
      const current = c.socket === sock;
      this.#dead(c, sock);
      if (!connected && current) {
        // could not connect: drop what waits (rtpproxy drops too) and log it
        this.failed += c.queue.length;
        if (c.queue.length > 0) {
          this.#log.warn({ notify: k, lines: c.queue.length }, 'notification dropped');
        }
        c.queue.length = 0;
      } else if (c.queue.length > 0 && retries > 0 && !this.#closed) {
        this.#pump(d, k, c, retries - 1);
      }
    });
  }

  /** Forgets `sock` as the connection of `c` (when it still is) and destroys it. */
  #dead(c: Connection, sock: net.Socket): void {
    if (c.socket === sock) {
      c.socket = undefined;
      c.connected = false;
    }
    sock.destroy();
  }

  /** Connections open (or being opened) now. */
  get openConnections(): number {
    let n = 0;
    for (const c of this.#conns.values()) if (c.socket !== undefined) n++;
    return n;
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#conns.values()) c.socket?.destroy();
    this.#conns.clear();
  }
}
