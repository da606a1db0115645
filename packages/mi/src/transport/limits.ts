/**
 * What keeps one sender from making the MI listener unusable for the others: caps on the TCP
 * connections and WebSocket clients of each source address, and a deadline on every connection
 * that is not a WebSocket. A connection must deliver a whole request (headers and body) within
 * `requestTimeoutMs` of being accepted, and the next one within `keepAliveTimeoutMs +
 * requestTimeoutMs` of the previous answer; the deadline does not restart per chunk, so a
 * request dripped a byte at a time is closed like a silent one. Time spent running a command
 * is never counted against the client.
 *
 * Refusals and expiries are counted, and logged once per source per minute.
 *
 * A connection is known by its peer's address and port, not by its socket object: over HTTPS
 * the server accepts a TCP socket and answers on the TLS socket wrapped around it.
 */
import {
  type Clock,
  type Logger,
  LogLimiter,
  monotonicClock,
  SourceCounts,
  sourceOf,
  type TimerHandle,
} from '@sipedge/core';
import type { Counter, StatisticsRegistry } from '../stats/registry.js';

/** The part of a TCP socket the limits use. */
export interface LimitedSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly destroyed: boolean;
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

export interface ConnectionLimitOptions {
  /** TCP connections one source address may hold open (WebSocket ones included). */
  readonly maxConnectionsPerSource: number;
  /** WebSocket clients one source address may hold. */
  readonly maxWsClientsPerSource: number;
  /** Time to deliver a whole request, from the accept or from the previous answer's idle end. */
  readonly requestTimeoutMs: number;
  /** How long an answered connection may stay idle before its next request starts. */
  readonly keepAliveTimeoutMs: number;
}

interface Connection {
  /** The accepted (TCP) socket. */
  readonly socket: LimitedSocket;
  readonly key: string;
  readonly source: string;
  timer: TimerHandle | undefined;
  /** Answers 408 when the deadline passes with a request's headers in and its body not. */
  answerTimeout: (() => void) | undefined;
  ws: boolean;
}

function keyOf(socket: LimitedSocket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`;
}

export class ConnectionLimits {
  readonly #o: ConnectionLimitOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #logLimit: LogLimiter;
  readonly #conns = new Map<string, Connection>();
  readonly #perSource = new SourceCounts();
  readonly #wsPerSource = new SourceCounts();
  readonly #refused: Counter;
  readonly #wsRefused: Counter;
  readonly #timeouts: Counter;

  constructor(
    options: ConnectionLimitOptions,
    stats: StatisticsRegistry,
    log: Logger,
    clock: Clock = monotonicClock,
  ) {
    this.#o = options;
    this.#clock = clock;
    this.#log = log;
    this.#logLimit = new LogLimiter({ clock });
    this.#refused = stats.counter(
      'mi',
      'connections_source_limited',
      'MI connections closed on accept: their source held max_connections_per_source',
    );
    this.#wsRefused = stats.counter(
      'mi',
      'ws_source_limited',
      'MI WebSocket upgrades refused: their source held max_ws_clients_per_source',
    );
    this.#timeouts = stats.counter(
      'mi',
      'request_timeouts',
      'MI connections closed for not delivering a whole request in time',
    );
    stats.gauge('mi', 'connections', {
      help: 'MI connections open',
      read: () => this.#conns.size,
    });
    stats.gauge('mi', 'ws_clients', {
      help: 'MI WebSocket clients connected',
      read: () => this.#wsPerSource.total,
    });
  }

  /** A connection was accepted: false when its source holds its cap (the caller destroys it). */
  admit(socket: LimitedSocket): boolean {
    const source = sourceOf(socket.remoteAddress);
    const open = this.#perSource.of(source);
    if (open >= this.#o.maxConnectionsPerSource) {
      this.#refused.inc();
      this.#warn(source, 'MI connection refused: its source holds max_connections_per_source', {
        open,
      });
      return false;
    }
    this.#perSource.add(source);
    const conn: Connection = {
      socket,
      key: keyOf(socket),
      source,
      timer: undefined,
      answerTimeout: undefined,
      ws: false,
    };
    this.#conns.set(conn.key, conn);
    socket.once('close', () => this.#release(conn));
    this.#arm(conn, this.#o.requestTimeoutMs);
    return true;
  }

  /** A request's headers are in; `answerTimeout` answers 408 if its body is not in time. */
  requestStarted(socket: LimitedSocket, answerTimeout: () => void): void {
    const conn = this.#conns.get(keyOf(socket));
    if (conn !== undefined) conn.answerTimeout = answerTimeout;
  }

  /** The whole request is in: the command's own time is not the client's. */
  requestRead(socket: LimitedSocket): void {
    const conn = this.#conns.get(keyOf(socket));
    if (conn === undefined) return;
    conn.answerTimeout = undefined;
    this.#disarm(conn);
  }

  /** The answer is sent: the next request is due within keep-alive plus the request deadline. */
  responded(socket: LimitedSocket): void {
    const conn = this.#conns.get(keyOf(socket));
    if (conn === undefined || conn.ws || socket.destroyed) return;
    conn.answerTimeout = undefined;
    this.#arm(conn, this.#o.keepAliveTimeoutMs + this.#o.requestTimeoutMs);
  }

  /**
   * A WebSocket upgrade passed the other checks: false when the source holds its WebSocket cap.
   * Once admitted, the connection has no deadline (the ping keeps it honest).
   */
  admitWs(socket: LimitedSocket): boolean {
    const conn = this.#conns.get(keyOf(socket));
    if (conn === undefined) return true;
    const source = conn.source;
    const open = this.#wsPerSource.of(source);
    if (open >= this.#o.maxWsClientsPerSource) {
      this.#wsRefused.inc();
      this.#warn(source, 'MI WebSocket refused: its source holds max_ws_clients_per_source', {
        open,
      });
      return false;
    }
    this.#wsPerSource.add(source);
    conn.ws = true;
    conn.answerTimeout = undefined;
    this.#disarm(conn);
    return true;
  }

  /** Open connections of a source. */
  connectionsOf(address: string): number {
    return this.#perSource.of(sourceOf(address));
  }

  #arm(conn: Connection, ms: number): void {
    this.#disarm(conn);
    if (ms <= 0) return;
    conn.timer = this.#clock.setTimeout(() => this.#expire(conn), ms);
  }

  #disarm(conn: Connection): void {
    if (conn.timer !== undefined) this.#clock.clearTimeout(conn.timer);
    conn.timer = undefined;
  }

  #expire(conn: Connection): void {
    conn.timer = undefined;
    const socket = conn.socket;
    if (socket.destroyed) return;
    this.#timeouts.inc();
    this.#warn(conn.source, 'MI connection closed: no whole request within request_timeout', {});
    const answer = conn.answerTimeout;
    conn.answerTimeout = undefined;
    if (answer !== undefined) answer();
    else socket.destroy();
  }

  #release(conn: Connection): void {
    // a new connection from the same address and port may already have taken the key
    if (this.#conns.get(conn.key) === conn) this.#conns.delete(conn.key);
    this.#disarm(conn);
    this.#perSource.remove(conn.source);
    if (conn.ws) this.#wsPerSource.remove(conn.source);
  }

  #warn(source: string, msg: string, fields: Record<string, unknown>): void {
    const suppressed = this.#logLimit.admit(source);
    if (suppressed !== undefined) this.#log.warn({ source, ...fields, suppressed }, msg);
  }
}
