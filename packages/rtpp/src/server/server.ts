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
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import {
  type Clock,
  type Logger,
  literalFirstLookup,
  monotonicClock,
  noopLogger,
} from '@sipedge/core';
import { type ParseCommandOptions, parseCommand } from '../codec/parse-command.js';
import { errorReply, serializeReply } from '../codec/reply.js';
import { RtppClosedError, RtppSocketError } from '../errors.js';
import { decodeCommandDatagram, encodeReplyDatagram, MAX_DATAGRAM } from '../framing/datagram.js';
import {
  formatSocketSpec,
  isLocalSocketSpec,
  parseSocketSpec,
  type RtppSocketSpec,
  type RtppTransport,
} from '../framing/socket-spec.js';
import { MAX_STREAM_LINE, RtppLineDecoder } from '../framing/stream.js';
import { type RtppCommand, RtppErrorCode, type RtppReply } from '../types.js';
import { ReplyCache, senderCookieHash } from './reply-cache.js';

/** Where a command came from. */
export interface RtppRequestContext {
  readonly transport: RtppTransport;
  /** The listening socket's spec as given in `sockets`. */
  readonly socket: string;
  /** The sender (udp/tcp); absent on unix sockets. Its address is what `%%CC_SELF%%` means. */
  readonly peer?: { readonly address: string; readonly port: number };
  /** The UDP cookie. */
  readonly cookie?: string;
}

export type RtppHandler = (
  command: RtppCommand,
  context: RtppRequestContext,
) => RtppReply | Promise<RtppReply>;

/**
 * Answers a command from its text, before it is parsed: the reply body (ending in `\n`, as
 * `serializeReply` writes it), or undefined to let the command be parsed and go to the handler.
 * A handler may instead return `true` and call `respond` with the reply body later, exactly once
 * (no promise per command: a balancer's fast path).
 */
export type RtppTextHandler = (
  text: string,
  context: RtppRequestContext,
  respond: (body: string) => void,
) => string | Promise<string> | true | undefined;

export interface RtppServerOptions {
  /** Socket specs: `udp:127.0.0.1:22222`, `udp6:[::1]:0`, `unix:/path`, `cunix:/path`, `tcp:…`. */
  readonly sockets: readonly string[];
  readonly handler: RtppHandler;
  /**
   * Tried first for every command text (retransmit cache, framing and counters as for the
   * handler). A balancer uses it to forward plain commands as text, without building command
   * and reply objects; whatever it declines (undefined) is parsed and handled as usual. A throw
   * or rejection is answered like a failing handler's. It may answer through its `respond`
   * argument instead of a promise (return `true`).
   */
  readonly textHandler?: RtppTextHandler;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /**
   * How long a UDP reply stays cached for retransmits: between this and twice this (rtpproxy
   * keeps ~35 s).
   */
  readonly replyCacheMs?: number;
  /** Most cached UDP replies (oldest evicted first). */
  readonly maxCachedReplies?: number;
  /** Largest datagram and unix-socket command accepted. */
  readonly maxDatagram?: number;
  /** Longest cunix/tcp line; a longer one drops the connection. */
  readonly maxLine?: number;
  /** Most stream connections open at once (unix, cunix, tcp together); rtpproxy: 100. */
  readonly maxConnections?: number;
  /** Commands of one stream connection being handled at once before reading pauses. */
  readonly maxPipelined?: number;
  /** A unix/cunix/tcp connection idle this long is closed (0 = never). unix default 10 s. */
  readonly idleTimeoutMs?: number;
  /** The `E<n>` answered when the handler throws (default 89, rtpproxy's internal failure). */
  readonly internalErrorCode?: number;
  /**
   * Rewrites the `E<n>` answered for a command that does not parse (rtpproxy's own codes by
   * default). A balancer uses it so that a client's mistake never gets E7–E10, which OpenSIPS
   * reads as "this rtpproxy is broken" and disables it for a minute.
   */
  readonly parseErrorCode?: (code: number) => number;
  /** How long `stop()` waits for commands still being handled. */
  readonly stopTimeoutMs?: number;
  readonly parse?: ParseCommandOptions;
}

/** A bound socket, with the port the OS chose when 0 was asked. */
export interface RtppBoundAddress {
  readonly transport: RtppTransport;
  /** The spec as configured. */
  readonly configured: string;
  /** The spec with the real port: pass it to an RtppClient. */
  readonly spec: string;
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
}

export interface RtppServerStats {
  /** Datagrams, unix connections with data, and stream lines received. */
  received: number;
  /** UDP retransmits answered from the cache. */
  duplicates: number;
  /** UDP retransmits dropped because the first copy was still being handled. */
  inProgressDrops: number;
  /** Commands answered with `E<n>` because they did not parse. */
  errors: number;
  /** Handler calls that threw, rejected or returned something that is not a reply. */
  handlerErrors: number;
  /** Replies sent (cached re-sends included). */
  replied: number;
  /** Datagrams, unix commands and stream lines over the size limit (dropped). */
  oversize: number;
  /** Stream connections accepted. */
  connections: number;
  /** Stream connections refused because `maxConnections` were open. */
  rejectedConnections: number;
  /** Replies in the UDP cache now. */
  cached: number;
  /** Commands being handled now. */
  inFlight: number;
}

interface Listener {
  readonly spec: RtppSocketSpec;
  readonly configured: string;
  udp?: UdpSocket;
  server?: Server;
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

function isThenable(x: unknown): x is PromiseLike<RtppReply> {
  return (
    typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function'
  );
}

function describeValue(x: unknown): string {
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return Object.prototype.toString.call(x);
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class RtppServer {
  readonly #handler: RtppHandler;
  readonly #textHandler: RtppTextHandler | undefined;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #cacheMs: number;
  readonly #maxCached: number;
  readonly #maxDatagram: number;
  readonly #maxLine: number;
  readonly #maxConnections: number;
  readonly #maxPipelined: number;
  readonly #idleMs: number | undefined;
  readonly #internalCode: number;
  readonly #parseErrorCode: ((code: number) => number) | undefined;
  readonly #stopMs: number;
  readonly #parse: ParseCommandOptions;
  readonly #listeners: Listener[];
  readonly #cache: ReplyCache;
  readonly #conns = new Set<Socket>();
  readonly #stats: Omit<RtppServerStats, 'cached' | 'inFlight'> = {
    received: 0,
    duplicates: 0,
    inProgressDrops: 0,
    errors: 0,
    handlerErrors: 0,
    replied: 0,
    oversize: 0,
    connections: 0,
    rejectedConnections: 0,
  };
  #state: State = 'new';
  #inFlight = 0;
  #idleWaiters: (() => void)[] = [];
  #stopping: Promise<void> | undefined;

  constructor(options: RtppServerOptions) {
    if (typeof options.handler !== 'function') {
      throw new TypeError('RtppServer: handler must be a function');
    }
    this.#handler = options.handler;
    this.#textHandler = options.textHandler;
    this.#log = options.logger ?? noopLogger;
    this.#clock = options.clock ?? monotonicClock;
    this.#cacheMs = options.replyCacheMs ?? 30_000;
    this.#maxCached = options.maxCachedReplies ?? 65_536;
    this.#cache = new ReplyCache(this.#cacheMs, this.#maxCached, this.#clock.now());
    this.#maxDatagram = options.maxDatagram ?? MAX_DATAGRAM;
    this.#maxLine = options.maxLine ?? MAX_STREAM_LINE;
    this.#maxConnections = options.maxConnections ?? 100;
    this.#maxPipelined = options.maxPipelined ?? 64;
    this.#idleMs = options.idleTimeoutMs;
    this.#internalCode = options.internalErrorCode ?? RtppErrorCode.NOMEM_9;
    this.#parseErrorCode = options.parseErrorCode;
    this.#stopMs = options.stopTimeoutMs ?? 5000;
    this.#parse = options.parse ?? {};
    if (options.sockets.length === 0) throw new TypeError('RtppServer: no sockets');
    // parse every spec up front so a typo fails before anything is bound
    this.#listeners = options.sockets.map((s) => ({ spec: parseSocketSpec(s), configured: s }));
  }

  /** Binds every socket; rejects with RtppSocketError (and unbinds the others) if one fails. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new RtppSocketError(`RtppServer: start() when ${this.#state}`);
    this.#state = 'starting';
    try {
      for (const l of this.#listeners) {
        await this.#bind(l);
        if ((this.#state as State) === 'stopped')
          throw new RtppClosedError('destroyed while starting');
      }
    } catch (e) {
      this.#closeAll();
      this.#state = 'stopped';
      throw e instanceof RtppSocketError || e instanceof RtppClosedError
        ? e
        : new RtppSocketError(`RtppServer: ${errText(e)}`, { cause: e });
    }
    this.#state = 'running';
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
        const a = l.udp !== undefined ? l.udp.address() : l.server?.address();
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
    return { ...this.#stats, cached: this.#cache.size, inFlight: this.#inFlight };
  }

  /**
   * Graceful: stops taking commands, waits (up to `stopTimeoutMs`) for the ones being handled
   * and sends their replies, then closes every socket. Idempotent.
   */
  stop(): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping;
    if (this.#state === 'new' || this.#state === 'stopped') {
      this.#state = 'stopped';
      this.#stopping = Promise.resolve();
      return this.#stopping;
    }
    this.#state = 'stopping';
    for (const l of this.#listeners) l.server?.close();
    this.#stopping = this.#waitIdle(this.#stopMs).then(async () => {
      // let the last replies leave (dgram sends resolve the address on the next tick)
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#state === 'stopped') return;
      this.#closeAll(true);
      this.#state = 'stopped';
    });
    return this.#stopping;
  }

  /** Immediate: closes every socket now; replies still being computed are discarded. */
  destroy(): void {
    if (this.#state === 'stopped') return;
    const starting = this.#state === 'starting';
    this.#state = 'stopped';
    // while starting, start() unbinds once the socket being bound is ready
    if (!starting) this.#closeAll();
    this.#stopping ??= Promise.resolve();
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.destroy();
  }

  // ---- binding ----------------------------------------------------------------------------

  async #bind(l: Listener): Promise<void> {
    const spec = l.spec;
    switch (spec.transport) {
      case 'udp':
      case 'udp6': {
        const sock = createSocket({
          type: spec.transport === 'udp' ? 'udp4' : 'udp6',
          lookup: literalFirstLookup,
        });
        l.udp = sock;
        await new Promise<void>((resolve, reject) => {
          const onError = (e: Error) =>
            reject(new RtppSocketError(`cannot bind ${l.configured}: ${e.message}`, { cause: e }));
          sock.once('error', onError);
          sock.bind({ port: spec.port, address: spec.host, exclusive: true }, () => {
            sock.off('error', onError);
            resolve();
          });
        });
        sock.on('error', (e) =>
          this.#log.warn({ socket: l.configured, err: e.message }, 'udp error'),
        );
        sock.on('message', (msg, rinfo) => this.#onDatagram(l, sock, msg, rinfo));
        return;
      }
      default: {
        const server = createServer({ pauseOnConnect: false }, (c) => this.#onConnection(l, c));
        l.server = server;
        server.on('error', (e) =>
          this.#log.warn({ socket: l.configured, err: e.message }, 'listener error'),
        );
        if (isLocalSocketSpec(spec)) removeStaleSocket(spec.path);
        await new Promise<void>((resolve, reject) => {
          const onError = (e: Error) =>
            reject(
              new RtppSocketError(`cannot listen on ${l.configured}: ${e.message}`, { cause: e }),
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
    }
  }

  /** Closes every socket; `graceful` ends stream connections after their queued replies. */
  #closeAll(graceful = false): void {
    for (const l of this.#listeners) {
      if (l.udp !== undefined) {
        try {
          l.udp.close();
        } catch {
          // already closed
        }
        delete l.udp;
      }
      if (l.server !== undefined) {
        l.server.close();
        delete l.server;
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

  // ---- dispatch ---------------------------------------------------------------------------

  /**
   * Parses and handles one command text, then calls `done` with the reply body (ending in `\n`),
   * synchronously when the handler is synchronous. `done` is not called after destroy().
   */
  #dispatch(text: string, ctx: RtppRequestContext, done: (body: string) => void): void {
    this.#stats.received++;
    if (this.#textHandler !== undefined && this.#dispatchText(text, ctx, done)) return;
    const parsed = parseCommand(text, this.#parse);
    if (!parsed.ok) {
      this.#stats.errors++;
      this.#log.debug(
        { socket: ctx.socket, code: parsed.error.code, reason: parsed.error.reason },
        'rtpp command rejected',
      );
      const code = this.#parseErrorCode?.(parsed.error.code) ?? parsed.error.code;
      this.#deliver(done, serializeReply(errorReply(code)), ctx);
      return;
    }
    const command = parsed.command;
    this.#inFlight++;
    const finish = (reply: unknown): void => {
      let body: string;
      try {
        body = serializeReply(reply as RtppReply);
      } catch (e) {
        fail(new TypeError(`handler returned ${describeValue(reply)}: ${errText(e)}`));
        return;
      }
      this.#deliver(done, body, ctx);
      this.#settle();
    };
    const fail = (e: unknown): void => {
      this.#stats.handlerErrors++;
      this.#log.error(
        { socket: ctx.socket, command: command.kind, err: errText(e) },
        'rtpp handler failed',
      );
      this.#deliver(done, serializeReply(errorReply(this.#internalCode)), ctx);
      this.#settle();
    };
    let result: RtppReply | Promise<RtppReply>;
    try {
      result = this.#handler(command, ctx);
    } catch (e) {
      fail(e);
      return;
    }
    if (isThenable(result)) result.then(finish, fail);
    else finish(result);
  }

  /** Offers a command text to the text handler; false when it declined. */
  #dispatchText(text: string, ctx: RtppRequestContext, done: (body: string) => void): boolean {
    let result: string | Promise<string> | true | undefined;
    let answered = false;
    const respond = (body: string): void => {
      if (answered) return;
      answered = true;
      this.#deliver(done, body, ctx);
      this.#settle();
    };
    this.#inFlight++;
    try {
      result = this.#textHandler!(text, ctx, respond);
    } catch (e) {
      this.#stats.handlerErrors++;
      this.#log.error({ socket: ctx.socket, err: errText(e) }, 'rtpp text handler failed');
      respond(serializeReply(errorReply(this.#internalCode)));
      return true;
    }
    if (result === undefined) {
      answered = true;
      this.#inFlight--;
      return false;
    }
    if (result === true) return true;
    if (typeof result === 'string') {
      respond(result);
      return true;
    }
    result.then(respond, (e: unknown) => {
      this.#stats.handlerErrors++;
      this.#log.error({ socket: ctx.socket, err: errText(e) }, 'rtpp text handler failed');
      respond(serializeReply(errorReply(this.#internalCode)));
    });
    return true;
  }

  /** Hands a reply to its transport; a socket that went away meanwhile is logged, not thrown. */
  #deliver(done: (body: string) => void, body: string, ctx: RtppRequestContext): void {
    if (this.#state === 'stopped') return;
    try {
      done(body);
    } catch (e) {
      this.#log.debug({ socket: ctx.socket, err: errText(e) }, 'rtpp reply not sent');
    }
  }

  #settle(): void {
    this.#inFlight--;
    if (this.#inFlight === 0 && this.#idleWaiters.length > 0) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  #waitIdle(limitMs: number): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#log.warn({ inFlight: this.#inFlight }, 'rtpp server stop: gave up waiting');
        resolve();
      }, limitMs);
      this.#idleWaiters.push(() => {
        this.#clock.clearTimeout(timer);
        resolve();
      });
    });
  }

  // ---- udp --------------------------------------------------------------------------------

  #onDatagram(l: Listener, sock: UdpSocket, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#state !== 'running' && this.#state !== 'starting') return;
    const frame = decodeCommandDatagram(msg, this.#maxDatagram);
    const send = (buf: Buffer): void => {
      this.#stats.replied++;
      // no callback: send errors arrive as 'error' events (logged)
      sock.send(buf, rinfo.port, rinfo.address);
    };
    switch (frame.kind) {
      case 'oversize':
        this.#stats.oversize++;
        this.#log.debug(
          { socket: l.configured, size: frame.size, from: rinfo.address },
          'oversize datagram dropped',
        );
        return;
      case 'empty':
        this.#stats.received++;
        this.#stats.errors++;
        send(encodeReplyDatagram(undefined, `E${RtppErrorCode.PARSE_1}\n`));
        return;
      case 'no-command':
        this.#stats.received++;
        this.#stats.errors++;
        send(encodeReplyDatagram(frame.cookie, `E${RtppErrorCode.PARSE_1}\n`));
        return;
      case 'command':
        break;
    }
    const cookie = frame.cookie;
    const key = senderCookieHash(rinfo.address, rinfo.port, cookie);
    const now = this.#clock.now();
    const hit = this.#cache.lookup(key, cookie, now);
    if (hit !== undefined) {
      this.#stats.received++;
      if (hit === null) {
        this.#stats.inProgressDrops++;
      } else {
        this.#stats.duplicates++;
        send(Buffer.from(hit, 'latin1'));
      }
      return;
    }
    const token = this.#cache.begin(key, cookie, now);
    const ctx: RtppRequestContext = {
      transport: l.spec.transport,
      socket: l.configured,
      peer: { address: rinfo.address, port: rinfo.port },
      cookie,
    };
    this.#dispatch(frame.body, ctx, (body) => {
      const buf = Buffer.from(`${cookie} ${body}`, 'latin1');
      // the cache copies the bytes into its arena: no string of the reply outlives this turn
      this.#cache.complete(key, buf, token);
      send(buf);
    });
  }

  // ---- streams ----------------------------------------------------------------------------

  #onConnection(l: Listener, c: Socket): void {
    const open = this.#state === 'running' || this.#state === 'starting';
    if (!open || this.#conns.size >= this.#maxConnections) {
      this.#stats.rejectedConnections++;
      this.#log.warn({ socket: l.configured, open: this.#conns.size }, 'rtpp connection refused');
      c.destroy();
      return;
    }
    this.#stats.connections++;
    this.#conns.add(c);
    c.on('close', () => this.#conns.delete(c));
    c.on('error', (e) =>
      this.#log.debug({ socket: l.configured, err: e.message }, 'connection error'),
    );
    const transport = l.spec.transport;
    const peer =
      c.remoteAddress !== undefined && c.remotePort !== undefined
        ? { address: c.remoteAddress, port: c.remotePort }
        : undefined;
    const ctx: RtppRequestContext =
      peer === undefined
        ? { transport, socket: l.configured }
        : { transport, socket: l.configured, peer };
    if (transport === 'unix') this.#oneShot(l, c, ctx);
    else this.#persistent(l, c, ctx);
  }

  /** unix: one read, one reply, close (docs/protocols/rtpproxy.md §1.1). */
  #oneShot(l: Listener, c: Socket, ctx: RtppRequestContext): void {
    const idle = this.#idleMs ?? 10_000;
    if (idle > 0) c.setTimeout(idle, () => c.destroy());
    c.once('data', (chunk: Buffer) => {
      c.pause();
      if (chunk.length >= this.#maxDatagram) {
        this.#stats.oversize++;
        this.#log.debug(
          { socket: l.configured, size: chunk.length },
          'oversize unix command dropped',
        );
        c.destroy();
        return;
      }
      this.#dispatch(chunk.toString('latin1'), ctx, (body) => {
        this.#stats.replied++;
        c.end(body, 'latin1');
      });
    });
  }

  /** cunix/tcp: newline-framed commands, replies written in command order. */
  #persistent(l: Listener, c: Socket, ctx: RtppRequestContext): void {
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
        this.#dispatch(line, ctx, (body) => {
          this.#stats.replied++;
          slot.body = body;
          flush();
        });
      }
      if (!r.ok) {
        this.#stats.oversize++;
        this.#log.warn({ socket: l.configured, size: r.size }, 'overlong line: connection dropped');
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
