/**
 * RtppServer's stream sockets: unix (one command per connection) and cunix/tcp (newline-framed
 * commands on persistent connections), each command through the dispatch. The connections of
 * every stream socket count against one limit; a tcp connection must come from an allowed
 * source that holds fewer than its cap of connections; a connection silent for the idle
 * timeout is closed.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { LOCAL_SOURCE, type Logger } from '@sipedge/core';
import { RtppSocketError } from '../errors.js';
import { isLocalSocketSpec, type RtppSocketSpec } from '../framing/socket-spec.js';
import { RtppLineDecoder } from '../framing/stream.js';
import type { CommandDispatch, ServerCounters } from './dispatch.js';
import type { RtppRequestContext } from './options.js';
import type { SourcePolicy } from './sources.js';

/** cunix/tcp connections idle this long are closed unless the server is told otherwise. */
const PERSISTENT_IDLE_MS = 120_000;
/** unix: one command per connection, so its one read is due soon. */
const ONE_SHOT_IDLE_MS = 10_000;

/** What a stream listener shares with the server. */
export interface StreamListenerParts {
  readonly dispatch: CommandDispatch;
  readonly counters: ServerCounters;
  readonly log: Logger;
  /** Open connections of every stream listener (the server ends them when it stops). */
  readonly connections: Set<Socket>;
  readonly sources: SourcePolicy;
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
  readonly #sources: SourcePolicy;
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
    this.#sources = parts.sources;
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
    c.on('error', (e) =>
      this.#log.debug({ socket: this.#configured, err: e.message }, 'connection error'),
    );
    const transport = this.#spec.transport;
    const from = c.remoteAddress;
    if (!isLocalSocketSpec(this.#spec) && !this.#admitSource(c, from)) return;
    if (!this.#dispatch.accepting || this.#conns.size >= this.#maxConnections) {
      this.#counters.rejectedConnections++;
      this.#sources.warn(
        from ?? LOCAL_SOURCE,
        { socket: this.#configured, open: this.#conns.size },
        'rtpp connection refused: max_connections open',
      );
      if (from !== undefined && !isLocalSocketSpec(this.#spec)) {
        this.#sources.releaseConnection(from);
      }
      c.destroy();
      return;
    }
    this.#counters.connections++;
    this.#conns.add(c);
    c.on('close', () => {
      this.#conns.delete(c);
      if (from !== undefined && !isLocalSocketSpec(this.#spec)) {
        this.#sources.releaseConnection(from);
      }
    });
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

  /** tcp: the source is allowed and holds a free connection slot (taken here). */
  #admitSource(c: Socket, from: string | undefined): boolean {
    if (from === undefined) {
      // already closed by the peer: nothing to serve
      c.destroy();
      return false;
    }
    if (!this.#sources.allows(from)) {
      this.#counters.refusedSources++;
      this.#sources.warn(
        from,
        { socket: this.#configured },
        'rtpp connection refused: source not in allowed_sources',
      );
      c.destroy();
      return false;
    }
    if (!this.#sources.takeConnection(from)) {
      this.#counters.sourceLimitedConnections++;
      this.#sources.warn(
        from,
        { socket: this.#configured },
        'rtpp connection refused: source holds max_connections_per_source',
      );
      c.destroy();
      return false;
    }
    return true;
  }

  /** Closes `c` after `ms` without a byte either way (0: never). */
  #closeWhenIdle(c: Socket, ms: number): void {
    if (ms <= 0) return;
    c.setTimeout(ms, () => {
      this.#counters.idleClosed++;
      c.destroy();
    });
  }

  /** unix: one read, one reply, close (docs/protocols/rtpproxy.md §1.1). */
  #oneShot(c: Socket, ctx: RtppRequestContext): void {
    this.#closeWhenIdle(c, this.#idleMs ?? ONE_SHOT_IDLE_MS);
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
    this.#closeWhenIdle(c, this.#idleMs ?? PERSISTENT_IDLE_MS);
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
