/**
 * The UDP side of RtppClient (docs/protocols/rtpproxy.md §1.3, §5.4, §6.2): unique cookies, many
 * commands in flight, retransmits on an adaptive schedule inside a total time budget.
 *
 * Schedule: the first retransmit comes after 4 × the smoothed RTT (bounded by `minRetryMs` and
 * `maxFirstRetryMs`), each later wait doubles, and a retransmit is sent only when it falls
 * before the deadline; at the deadline the command fails with RtppTimeoutError. RTT samples come
 * only from replies to commands that were sent once (Karn's rule); the first sample replaces the
 * initial estimate, later ones move it by 1/8 (RFC 6298's smoothing). *
 * One timer per channel, not one per command: it is armed for the earliest retransmit or
 * deadline of the commands in flight, and a reply does not touch it. When it fires it handles
 * every command that is due and re-arms for the next; with replies flowing it fires about once
 * per first-retransmit wait and finds nothing due.
 */

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { Clock, Logger } from '@sipedge/core';
import { ChurnMap } from '@sipedge/core';
import { RtppClosedError, RtppSocketError, RtppTimeoutError } from '../errors.js';
import { encodeCommandDatagram, latin1Text } from '../framing/datagram.js';
import type { RtppInetSocketSpec } from '../framing/socket-spec.js';

/** What the UDP client needs from a socket; injectable for tests. */
export interface RtppDatagramTransport {
  /** Sends one datagram to the server. Errors are reported through `onError`. */
  send(data: Uint8Array): void;
  close(): void;
}

export interface RtppDatagramTransportHandlers {
  onMessage(data: Uint8Array): void;
  onError(error: Error): void;
}

export interface RtppDatagramTransportOptions {
  /** Local address to send from (rtp_cluster's `cmd_out_address`); any port. */
  readonly localAddress?: string;
}

export type RtppDatagramTransportFactory = (
  spec: RtppInetSocketSpec,
  handlers: RtppDatagramTransportHandlers,
  options?: RtppDatagramTransportOptions,
) => RtppDatagramTransport;

/** The real transport: a dgram socket connected to the server (it only hears the server). */
export const dgramTransport: RtppDatagramTransportFactory = (spec, handlers, options = {}) => {
  const sock: UdpSocket = createSocket({ type: spec.transport === 'udp6' ? 'udp6' : 'udp4' });
  let connected = false;
  let closed = false;
  const queue: Uint8Array[] = [];
  sock.on('message', (m) => handlers.onMessage(m));
  sock.on('error', (e) => handlers.onError(e));
  const connect = () =>
    sock.connect(spec.port, spec.host, () => {
      connected = true;
      for (const d of queue.splice(0)) {
        try {
          sock.send(d);
        } catch (e) {
          handlers.onError(e as Error);
        }
      }
    });
  if (options.localAddress === undefined) connect();
  else sock.bind({ address: options.localAddress, port: 0 }, connect);
  return {
    send(data) {
      if (closed) return;
      if (!connected) {
        queue.push(data);
        return;
      }
      try {
        sock.send(data); // no callback: asynchronous errors arrive as 'error' events
      } catch (e) {
        handlers.onError(e as Error);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        sock.close();
      } catch {
        // already closed
      }
    },
  };
};

export interface UdpTimingOptions {
  readonly initialRttMs: number;
  readonly minRetryMs: number;
  readonly maxFirstRetryMs: number;
}

interface Pending {
  readonly cookie: string;
  readonly data: Uint8Array;
  readonly sentAt: number;
  readonly deadline: number;
  attempts: number;
  wait: number;
  /** When the next retransmit, or the deadline, is due. */
  nextAt: number;
  /** Turns the reply body into the result (it may throw, e.g. RtppProtocolError). */
  map: ((body: string) => unknown) | undefined;
  resolve: ((value: unknown) => void) | undefined;
  reject: ((e: unknown) => void) | undefined;
  /** A callback request (`requestCallback`): gets the reply body, newline removed, or the error. */
  done: RtppReplyCallback | undefined;
}

/** Called once with the reply body (cookie and final newline removed) or with the error. */
export type RtppReplyCallback = (error: Error | undefined, body?: string) => void;

function fail(p: Pending, e: Error, log: Logger): void {
  if (p.done !== undefined) callBack(p.done, e, undefined, log);
  else p.reject!(e);
}

/** A callback that throws is logged: it must not escape a socket or timer callback. */
function callBack(
  done: RtppReplyCallback,
  e: Error | undefined,
  body: string | undefined,
  log: Logger,
): void {
  try {
    done(e, body);
  } catch (thrown) {
    log.error({ err: (thrown as Error).message }, 'rtpp reply callback threw');
  }
}

export interface UdpChannelStats {
  sent: number;
  retransmits: number;
  timeouts: number;
  stale: number;
  srttMs: number;
}

export class UdpChannel {
  readonly #spec: RtppInetSocketSpec;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #timing: UdpTimingOptions;
  readonly #factory: RtppDatagramTransportFactory;
  /** Commands in flight by cookie: a ChurnMap, as a Map would reallocate its table all the time. */
  readonly #pending = new ChurnMap<string, Pending>();
  #transport: RtppDatagramTransport | undefined;
  /** The channel's one timer, and when it fires (Infinity when not armed). */
  #timer: unknown;
  #timerAt = Number.POSITIVE_INFINITY;
  #srtt: number;
  #sampled = false;
  #stats = { sent: 0, retransmits: 0, timeouts: 0, stale: 0 };

  constructor(
    spec: RtppInetSocketSpec,
    clock: Clock,
    log: Logger,
    timing: UdpTimingOptions,
    factory: RtppDatagramTransportFactory,
  ) {
    this.#spec = spec;
    this.#clock = clock;
    this.#log = log;
    this.#timing = timing;
    this.#factory = factory;
    this.#srtt = timing.initialRttMs;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  has(cookie: string): boolean {
    return this.#pending.has(cookie);
  }

  stats(): UdpChannelStats {
    return { ...this.#stats, srttMs: this.#srtt };
  }

  /** Smoothed round-trip time in ms. */
  get srtt(): number {
    return this.#srtt;
  }

  /** The wait before the first retransmit, as the schedule computes it now. */
  firstWait(): number {
    const t = this.#timing;
    return Math.min(t.maxFirstRetryMs, Math.max(t.minRetryMs, 4 * this.#srtt));
  }

  /** Called whenever the last command in flight settles. */
  onIdle: (() => void) | undefined;

  request<T>(
    cookie: string,
    command: string,
    budgetMs: number,
    map: (body: string) => T,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#start(cookie, command, budgetMs, {
        map,
        resolve: resolve as (value: unknown) => void,
        reject,
        done: undefined,
      });
    });
  }

  /** Send a command and track it (retransmits, deadline) until one of `how` completes it. */
  #start(
    cookie: string,
    command: string,
    budgetMs: number,
    how: Pick<Pending, 'map' | 'resolve' | 'reject' | 'done'>,
  ): void {
    const transport = this.#open();
    const now = this.#clock.now();
    const data = encodeCommandDatagram(cookie, command);
    const p: Pending = {
      cookie,
      data,
      sentAt: now,
      deadline: now + budgetMs,
      attempts: 1,
      wait: this.firstWait(),
      nextAt: 0,
      map: how.map,
      resolve: how.resolve,
      reject: how.reject,
      done: how.done,
    };
    this.#pending.set(cookie, p);
    this.#stats.sent++;
    transport.send(data);
    this.#arm(p, now);
  }

  /**
   * `request` without a promise: `done` gets the reply body with its final newline removed (or
   * the error) once, never synchronously. The balancer's fast path uses it: no promise, no
   * reaction job and no closure per command in this layer.
   */
  requestCallback(
    cookie: string,
    command: string,
    budgetMs: number,
    done: RtppReplyCallback,
  ): void {
    this.#start(cookie, command, budgetMs, {
      map: undefined,
      resolve: undefined,
      reject: undefined,
      done,
    });
  }

  /** Sets when the command is next due, and brings the channel's timer forward if needed. */
  #arm(p: Pending, now: number): void {
    const retryAt = now + p.wait;
    p.nextAt = retryAt < p.deadline ? retryAt : p.deadline;
    if (p.nextAt < this.#timerAt) this.#armTimer(p.nextAt, now);
  }

  #armTimer(at: number, now: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    // whole milliseconds: Node keeps one timer list per distinct delay, and a fractional delay
    // (clock readings are) would make a new list, and a priority-queue entry, every time
    this.#timer = this.#clock.setTimeout(() => this.#onTimer(), Math.max(0, Math.ceil(at - now)));
  }

  #disarmTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  /** Retransmits or fails every command due by the time the timer was set for. */
  #onTimer(): void {
    const firedFor = this.#timerAt;
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    // a timer may fire a fraction of a millisecond early: what it was set for is due
    const due = now > firedFor ? now : firedFor;
    let next = Number.POSITIVE_INFINITY;
    for (const p of this.#pending.values()) {
      // the walk is over a copy: a callback run by an earlier entry may have settled this one
      // (destroy()) or given up on it, and an entry settles once
      if (this.#pending.get(p.cookie) !== p) continue;
      if (p.nextAt <= due) {
        if (p.nextAt >= p.deadline) {
          this.#pending.delete(p.cookie);
          this.#stats.timeouts++;
          fail(
            p,
            new RtppTimeoutError(
              `no reply from ${this.#spec.transport}:${this.#spec.host}:${this.#spec.port} after ${p.attempts} attempt(s) in ${Math.round(now - p.sentAt)} ms`,
              p.attempts,
            ),
            this.#log,
          );
          continue;
        }
        p.attempts++;
        this.#stats.retransmits++;
        this.#transport?.send(p.data);
        p.wait *= 2;
        const retryAt = now + p.wait;
        p.nextAt = retryAt < p.deadline ? retryAt : p.deadline;
      }
      if (p.nextAt < next) next = p.nextAt;
    }
    if (this.#pending.size === 0) this.onIdle?.();
    // a command sent by a callback meanwhile may have armed the timer for later than `next`
    else if (next < this.#timerAt) this.#armTimer(next, now);
  }

  #open(): RtppDatagramTransport {
    if (this.#transport !== undefined) return this.#transport;
    try {
      this.#transport = this.#factory(this.#spec, {
        onMessage: (d) => this.#onMessage(d),
        onError: (e) => this.#log.debug({ err: e.message }, 'rtpp udp socket error'),
      });
    } catch (e) {
      throw new RtppSocketError(`cannot open a UDP socket: ${(e as Error).message}`, { cause: e });
    }
    return this.#transport;
  }

  #onMessage(data: Uint8Array): void {
    // decodeReplyDatagram's reading, without its result object: `<cookie> <body>`
    const text = latin1Text(data);
    const n = text.length;
    let blank = 0;
    while (blank < n) {
      const c = text.charCodeAt(blank);
      if (c === 32 || c === 9 || c === 10 || c === 13) break;
      blank++;
    }
    const p = blank === 0 || blank === n ? undefined : this.#pending.get(text.slice(0, blank));
    if (p === undefined) {
      // a late copy of a reply already taken, a reply to a command given up on, or garbage
      this.#stats.stale++;
      return;
    }
    this.#pending.delete(p.cookie);
    if (p.attempts === 1) {
      const sample = this.#clock.now() - p.sentAt;
      if (this.#sampled) this.#srtt += (sample - this.#srtt) / 8;
      else {
        this.#srtt = sample;
        this.#sampled = true;
      }
    }
    if (this.#pending.size === 0) {
      this.#disarmTimer();
      this.onIdle?.();
    }
    if (p.done !== undefined) {
      let end = n;
      if (text.charCodeAt(end - 1) === 10) end -= text.charCodeAt(end - 2) === 13 ? 2 : 1;
      callBack(
        p.done,
        undefined,
        text.slice(blank + 1, end > blank + 1 ? end : blank + 1),
        this.#log,
      );
      return;
    }
    const body = text.slice(blank + 1);
    let value: unknown;
    try {
      value = p.map!(body);
    } catch (e) {
      p.reject!(e);
      return;
    }
    p.resolve!(value);
  }

  /** Fails every command in flight with RtppClosedError and closes the socket. */
  destroy(): void {
    this.#disarmTimer();
    // taken out first: each is failed once, whatever its callback does
    const all = this.#pending.values();
    this.#pending.clear();
    for (const p of all) fail(p, new RtppClosedError('client destroyed'), this.#log);
    this.#transport?.close();
    this.#transport = undefined;
  }
}
