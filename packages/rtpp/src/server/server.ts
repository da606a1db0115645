/**
 * RtppServer: answers the rtpproxy control protocol on any mix of udp, udp6, unix, cunix and tcp
 * sockets, and hands each parsed command to a handler (docs/protocols/rtpproxy.md §1).
 *
 * - Bad input never reaches the handler: it gets the `E<n>` reply rtpproxy would give, or a
 *   counted drop (oversize datagrams, overlong stream lines).
 * - A handler that throws or rejects gets an error reply and a log line; nothing escapes a socket
 *   callback.
 * - UDP: replies go to the sender with its cookie. A retransmit (same sender address, port and
 *   cookie within `replyCacheMs`) gets the cached reply without running the handler again; one
 *   that arrives while the first is still being handled is dropped (its reply is on the way).
 * - unix: one command per connection (one read, reply, close). cunix/tcp: newline-framed,
 *   persistent, replies in command order.
 */
import type { Socket } from 'node:net';
import { type Clock, type Logger, monotonicClock, noopLogger } from '@sipedge/core';
import { RtppClosedError, RtppSocketError } from '../errors.js';
import { MAX_DATAGRAM } from '../framing/datagram.js';
import {
  formatSocketSpec,
  isLocalSocketSpec,
  parseSocketSpec,
  type RtppSocketSpec,
} from '../framing/socket-spec.js';
import { MAX_STREAM_LINE } from '../framing/stream.js';
import { CommandDispatch, errText, type ServerCounters } from './dispatch.js';
import type { RtppBoundAddress, RtppServerOptions, RtppServerStats } from './options.js';
import { ReplyCache } from './reply-cache.js';
import { LOOPBACK_SOURCES, SourcePolicy } from './sources.js';
import { StreamListener } from './stream.js';
import { UdpListener } from './udp.js';

interface Listener {
  readonly spec: RtppSocketSpec;
  readonly configured: string;
  udp?: UdpListener;
  stream?: StreamListener;
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export class RtppServer {
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #cacheMs: number;
  readonly #maxCached: number;
  readonly #maxDatagram: number;
  readonly #maxLine: number;
  readonly #maxConnections: number;
  readonly #maxPipelined: number;
  readonly #idleMs: number | undefined;
  readonly #sources: SourcePolicy;
  readonly #stopMs: number;
  readonly #listeners: Listener[];
  readonly #cache: ReplyCache;
  readonly #conns = new Set<Socket>();
  readonly #counters: ServerCounters = {
    received: 0,
    duplicates: 0,
    inProgressDrops: 0,
    errors: 0,
    handlerErrors: 0,
    replied: 0,
    oversize: 0,
    connections: 0,
    rejectedConnections: 0,
    refusedSources: 0,
    sourceLimitedConnections: 0,
    idleClosed: 0,
  };
  readonly #dispatch: CommandDispatch;
  #state: State = 'new';
  #stopping: Promise<void> | undefined;

  constructor(options: RtppServerOptions) {
    if (typeof options.handler !== 'function') {
      throw new TypeError('RtppServer: handler must be a function');
    }
    this.#log = options.logger ?? noopLogger;
    this.#clock = options.clock ?? monotonicClock;
    this.#dispatch = new CommandDispatch(options, this.#counters, this.#log, this.#clock);
    this.#cacheMs = options.replyCacheMs ?? 30_000;
    this.#maxCached = options.maxCachedReplies ?? 65_536;
    this.#cache = new ReplyCache(this.#cacheMs, this.#maxCached, this.#clock.now());
    this.#maxDatagram = options.maxDatagram ?? MAX_DATAGRAM;
    this.#maxLine = options.maxLine ?? MAX_STREAM_LINE;
    this.#maxConnections = options.maxConnections ?? 100;
    this.#maxPipelined = options.maxPipelined ?? 64;
    this.#idleMs = options.idleTimeoutMs;
    this.#sources = new SourcePolicy({
      allowedSources: options.allowedSources ?? LOOPBACK_SOURCES,
      maxConnectionsPerSource: options.maxConnectionsPerSource ?? 16,
      log: this.#log,
      clock: this.#clock,
    });
    this.#stopMs = options.stopTimeoutMs ?? 5000;
    if (options.sockets.length === 0) throw new TypeError('RtppServer: no sockets');
    // parse every spec up front so a typo fails before anything is bound
    this.#listeners = options.sockets.map((s) => ({ spec: parseSocketSpec(s), configured: s }));
  }

  /** The state, and what the dispatch and the transports make of it. */
  #enter(state: State): void {
    this.#state = state;
    this.#dispatch.accepting = state === 'starting' || state === 'running';
    this.#dispatch.discarding = state === 'stopped';
  }

  /** Binds every socket; rejects with RtppSocketError (and unbinds the others) if one fails. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new RtppSocketError(`RtppServer: start() when ${this.#state}`);
    this.#enter('starting');
    try {
      for (const l of this.#listeners) {
        await this.#bind(l);
        if ((this.#state as State) === 'stopped')
          throw new RtppClosedError('destroyed while starting');
      }
    } catch (e) {
      this.#closeAll();
      this.#enter('stopped');
      throw e instanceof RtppSocketError || e instanceof RtppClosedError
        ? e
        : new RtppSocketError(`RtppServer: ${errText(e)}`, { cause: e });
    }
    this.#enter('running');
    this.#log.info({ sockets: this.addresses().map((a) => a.spec) }, 'rtpp server listening');
  }

  /** The bound sockets, with the ports the OS chose. */
  addresses(): RtppBoundAddress[] {
    const out: RtppBoundAddress[] = [];
    for (const l of this.#listeners) {
      const spec = l.spec;
      if (isLocalSocketSpec(spec)) {
        out.push({
          transport: spec.transport,
          configured: l.configured,
          spec: formatSocketSpec(spec),
          path: spec.path,
        });
        continue;
      }
      let port = spec.port;
      let host = spec.host;
      try {
        const a = l.udp !== undefined ? l.udp.address() : l.stream?.address();
        if (a !== undefined && a !== null && typeof a === 'object') {
          port = a.port;
          host = a.address;
        }
      } catch {
        // not bound (yet or any more): report the configured address
      }
      out.push({
        transport: spec.transport,
        configured: l.configured,
        spec: formatSocketSpec({ transport: spec.transport, host, port }),
        host,
        port,
      });
    }
    return out;
  }

  stats(): RtppServerStats {
    return {
      ...this.#counters,
      cached: this.#cache.size,
      inFlight: this.#dispatch.inFlight,
      openConnections: this.#conns.size,
    };
  }

  /**
   * Graceful: stops taking commands, waits (up to `stopTimeoutMs`) for the ones being handled
   * and sends their replies, then closes every socket. Idempotent.
   */
  stop(): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping;
    if (this.#state === 'new' || this.#state === 'stopped') {
      this.#enter('stopped');
      this.#stopping = Promise.resolve();
      return this.#stopping;
    }
    this.#enter('stopping');
    for (const l of this.#listeners) l.stream?.close();
    this.#stopping = this.#dispatch.waitIdle(this.#stopMs).then(async () => {
      // let the last replies leave (dgram sends resolve the address on the next tick)
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#state === 'stopped') return;
      this.#closeAll(true);
      this.#enter('stopped');
    });
    return this.#stopping;
  }

  /** Immediate: closes every socket now; replies still being computed are discarded. */
  destroy(): void {
    if (this.#state === 'stopped') return;
    const starting = this.#state === 'starting';
    this.#enter('stopped');
    // while starting, start() unbinds once the socket being bound is ready
    if (!starting) this.#closeAll();
    this.#stopping ??= Promise.resolve();
    this.#dispatch.releaseWaiters();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.destroy();
  }

  // ---- binding ----------------------------------------------------------------------------

  async #bind(l: Listener): Promise<void> {
    const spec = l.spec;
    if (spec.transport === 'udp' || spec.transport === 'udp6') {
      l.udp = new UdpListener(spec, l.configured, {
        dispatch: this.#dispatch,
        counters: this.#counters,
        cache: this.#cache,
        clock: this.#clock,
        log: this.#log,
        sources: this.#sources,
        maxDatagram: this.#maxDatagram,
      });
      await l.udp.bind();
      return;
    }
    l.stream = new StreamListener(spec, l.configured, {
      dispatch: this.#dispatch,
      counters: this.#counters,
      log: this.#log,
      connections: this.#conns,
      sources: this.#sources,
      maxConnections: this.#maxConnections,
      maxDatagram: this.#maxDatagram,
      maxLine: this.#maxLine,
      maxPipelined: this.#maxPipelined,
      idleMs: this.#idleMs,
    });
    await l.stream.listen();
  }

  /** Closes every socket; `graceful` ends stream connections after their queued replies. */
  #closeAll(graceful = false): void {
    for (const l of this.#listeners) {
      if (l.udp !== undefined) {
        l.udp.close();
        delete l.udp;
      }
      if (l.stream !== undefined) {
        l.stream.close();
        delete l.stream;
      }
    }
    for (const c of this.#conns) {
      if (graceful) {
        c.end();
        c.setTimeout(1000, () => c.destroy());
      } else {
        c.destroy();
      }
    }
    this.#conns.clear();
    this.#cache.clear();
  }
}
