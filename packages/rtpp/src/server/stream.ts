/**
 * RtppServer's stream sockets: unix (one command per connection) and cunix/tcp (newline-framed
 * commands on persistent connections), each command through the dispatch. The connections of
 * every stream socket count against one limit.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '@sipedge/core';
import { RtppSocketError } from '../errors.js';
import { isLocalSocketSpec, type RtppSocketSpec } from '../framing/socket-spec.js';
import { RtppLineDecoder } from '../framing/stream.js';
import type { CommandDispatch, ServerCounters } from './dispatch.js';
import type { RtppRequestContext } from './options.js';

/** What a stream listener shares with the server. */
export interface StreamListenerParts {
  readonly dispatch: CommandDispatch;
  readonly counters: ServerCounters;
  readonly log: Logger;
  /** Open connections of every stream listener (the server ends them when it stops). */
  readonly connections: Set<Socket>;
  readonly maxConnections: number;
  /** Largest unix-socket command accepted. */
  readonly maxDatagram: number;
  /** Longest cunix/tcp line; a longer one drops the connection. */
  readonly maxLine: number;
  readonly maxPipelined: number;
  readonly idleMs: number | undefined;
}

/** One unix, cunix, tcp or tcp6 socket of the server. */
export class StreamListener {
  readonly #spec: RtppSocketSpec;
  readonly #configured: string;
  readonly #server: Server;
  readonly #dispatch: CommandDispatch;
  readonly #counters: ServerCounters;
  readonly #log: Logger;
  readonly #conns: Set<Socket>;
  readonly #maxConnections: number;
  readonly #maxDatagram: number;
  readonly #maxLine: number;
  readonly #maxPipelined: number;
  readonly #idleMs: number | undefined;

  constructor(spec: RtppSocketSpec, configured: string, parts: StreamListenerParts) {
    this.#spec = spec;
    this.#configured = configured;
    this.#dispatch = parts.dispatch;
    this.#counters = parts.counters;
    this.#log = parts.log;
    this.#conns = parts.connections;
    this.#maxConnections = parts.maxConnections;
    this.#maxDatagram = parts.maxDatagram;
    this.#maxLine = parts.maxLine;
    this.#maxPipelined = parts.maxPipelined;
    this.#idleMs = parts.idleMs;
    const server = createServer({ pauseOnConnect: false }, (c) => this.#onConnection(c));
    this.#server = server;
    server.on('error', (e) =>
      this.#log.warn({ socket: configured, err: e.message }, 'listener error'),
    );
  }

  /** Listens (RtppSocketError if it cannot); a leftover unix socket file is removed first. */
  async listen(): Promise<void> {
    const server = this.#server;
    const spec = this.#spec;
    if (isLocalSocketSpec(spec)) removeStaleSocket(spec.path);
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) =>
        reject(
          new RtppSocketError(`cannot listen on ${this.#configured}: ${e.message}`, { cause: e }),
        );
      server.once('error', onError);
      const done = () => {
        server.off('error', onError);
        resolve();
      };
      if (isLocalSocketSpec(spec)) {
        server.listen({ path: spec.path }, done);
      } else {
        server.listen(
          { host: spec.host, port: spec.port, ipv6Only: spec.transport === 'tcp6' },
          done,
        );
      }
    });
  }

  /** The bound address (null when not listening). */
  address(): AddressInfo | string | null {
    return this.#server.address();
  }

  /** Stops accepting connections; open ones stay (the server ends them). */
  close(): void {
    this.#server.close();
  }

  #onConnection(c: Socket): void {
    if (!this.#dispatch.accepting || this.#conns.size >= this.#maxConnections) {
      this.#counters.rejectedConnections++;
      this.#log.warn(
        { socket: this.#configured, open: this.#conns.size },
        'rtpp connection refused',
      );
      c.destroy();
      return;
    }
    this.#counters.connections++;
    this.#conns.add(c);
    c.on('close', () => this.#conns.delete(c));
    c.on('error', (e) =>
      this.#log.debug({ socket: this.#configured, err: e.message }, 'connection error'),
    );
    const transport = this.#spec.transport;
    const peer =
      c.remoteAddress !== undefined && c.remotePort !== undefined
        ? { address: c.remoteAddress, port: c.remotePort }
        : undefined;
    const ctx: RtppRequestContext =
      peer === undefined
        ? { transport, socket: this.#configured }
        : { transport, socket: this.#configured, peer };
    if (transport === 'unix') this.#oneShot(c, ctx);
    else this.#persistent(c, ctx);
  }

  /** unix: one read, one reply, close (docs/protocols/rtpproxy.md §1.1). */
  #oneShot(c: Socket, ctx: RtppRequestContext): void {
    const idle = this.#idleMs ?? 10_000;
    if (idle > 0) c.setTimeout(idle, () => c.destroy());
    c.once('data', (chunk: Buffer) => {
      c.pause();
      if (chunk.length >= this.#maxDatagram) {
        this.#counters.oversize++;
        this.#log.debug(
          { socket: this.#configured, size: chunk.length },
          'oversize unix command dropped',
        );
        c.destroy();
        return;
      }
      this.#dispatch.dispatch(chunk.toString('latin1'), ctx, (body) => {
        this.#counters.replied++;
        c.end(body, 'latin1');
      });
    });
  }

  /** cunix/tcp: newline-framed commands, replies written in command order. */
  #persistent(c: Socket, ctx: RtppRequestContext): void {
    const decoder = new RtppLineDecoder({ maxLine: this.#maxLine });
    const queue: { body: string | undefined }[] = [];
    let paused = false;
    if (this.#idleMs !== undefined && this.#idleMs > 0) {
      c.setTimeout(this.#idleMs, () => c.destroy());
    }
    // read while fewer than maxPipelined commands wait for replies and the peer reads ours
    const flow = (): void => {
      const stop = queue.length >= this.#maxPipelined || c.writableNeedDrain;
      if (stop && !paused) {
        paused = true;
        c.pause();
      } else if (!stop && paused) {
        paused = false;
        c.resume();
      }
    };
    c.on('drain', flow);
    const flush = (): void => {
      let out = '';
      while (queue.length > 0 && queue[0]!.body !== undefined) out += queue.shift()!.body;
      if (out !== '' && !c.destroyed) c.write(out, 'latin1');
      flow();
    };
    c.on('data', (chunk: Buffer) => {
      const r = decoder.push(chunk);
      for (const line of r.lines) {
        const slot: { body: string | undefined } = { body: undefined };
        queue.push(slot);
        this.#dispatch.dispatch(line, ctx, (body) => {
          this.#counters.replied++;
          slot.body = body;
          flush();
        });
      }
      if (!r.ok) {
        this.#counters.oversize++;
        this.#log.warn(
          { socket: this.#configured, size: r.size },
          'overlong line: connection dropped',
        );
        c.destroy();
        return;
      }
      flow();
    });
  }
}

/** Removes a leftover unix socket file (never a regular file) before listening on its path. */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // absent: nothing to remove
  }
}
