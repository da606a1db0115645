/**
 * RtppClient: sends rtpproxy commands over udp, udp6, unix, cunix or tcp and returns typed
 * replies (docs/protocols/rtpproxy.md §1, §5.4). See udp.ts and stream.ts for the per-transport
 * behaviour.
 */
import { randomBytes } from 'node:crypto';
import { type Clock, type Logger, monotonicClock, noopLogger } from '@sipedge/core';
import {
  RTPP_BASE_VERSION,
  RTPP_CAPABILITIES,
  versionCommand,
  versionFeatureCommand,
} from '../codec/build.js';
import { MAX_COMMAND_LENGTH } from '../codec/parse-command.js';
import { parseReply } from '../codec/reply.js';
import { serializeCommand } from '../codec/serialize-command.js';
import { RtppArgumentError, RtppClosedError, RtppProtocolError } from '../errors.js';
import { isLocalSocketSpec, parseSocketSpec, type RtppSocketSpec } from '../framing/socket-spec.js';
import type { RtppCommand, RtppCommandKind, RtppReply } from '../types.js';
import { OneShotChannel, PersistentChannel, type PersistentChannelStats } from './stream.js';
import {
  dgramTransport,
  type RtppDatagramTransportFactory,
  type RtppReplyCallback,
  UdpChannel,
} from './udp.js';

export interface RtppClientOptions {
  /** `udp:127.0.0.1:22222`, `udp6:[::1]:22222`, `unix:/path`, `cunix:/path`, `tcp:host:port`. */
  readonly socket: string;
  /** Total time budget per command, retransmits included (default 3000 ms). */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /**
   * UDP cookies: a prefix (cookies are `<prefix>_<n>`) or a function returning a fresh cookie
   * (non-empty, no blanks). Default: 8 random hex digits as prefix.
   */
  readonly cookie?: string | (() => string);
  /** Round-trip estimate before the first sample (default 250 ms: first retransmit at 1 s). */
  readonly initialRttMs?: number;
  /** Lower bound of the first retransmit wait (default 50 ms). */
  readonly minRetryMs?: number;
  /** Upper bound of the first retransmit wait (default 1000 ms). */
  readonly maxFirstRetryMs?: number;
  /** Most commands in flight at once; more are refused with RtppArgumentError (default 4096). */
  readonly maxInFlight?: number;
  /** cunix/tcp reconnect back-off (default 100 ms doubling to 5000 ms). */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  /** UDP: the local address to send from (rtp_cluster's `cmd_out_address`). */
  readonly localAddress?: string;
  /** UDP socket factory (tests inject an in-memory one). */
  readonly datagramTransport?: RtppDatagramTransportFactory;
}

export interface RtppSendOptions {
  /** This command's budget instead of the client's `timeoutMs`. */
  readonly timeoutMs?: number;
}

export interface RtppProbeResult {
  /** The answer to `V` (always `20040107`; anything else throws). */
  readonly version: string;
  /** Every VF date of the docs/protocols/rtpproxy.md §3 table → whether the server answered `1`. */
  readonly features: Map<string, boolean>;
}

export interface RtppClientStats {
  /** Commands sent (retransmits not counted). */
  sent: number;
  retransmits: number;
  timeouts: number;
  /** UDP replies that matched no command in flight (late copies, garbage). */
  stale: number;
  /** Smoothed UDP round-trip time, ms. */
  srttMs: number;
  inFlight: number;
  /** cunix/tcp connection counters. */
  connects: number;
  disconnects: number;
}

/** The command letter(s) of a command text, for reading its reply. */
export function commandKindOf(text: string): RtppCommandKind | undefined {
  let i = 0;
  while (i < text.length && text.charCodeAt(i) <= 32) i++;
  const c = text[i]?.toUpperCase();
  if (c === undefined || 'ULDPSRCNQVIGX'.indexOf(c) < 0) return undefined;
  if (c === 'V') {
    const n = text[i + 1];
    return n === 'F' || n === 'f' ? 'VF' : 'V';
  }
  return c as RtppCommandKind;
}

/** How many lines a stream reply to this command has (I: five, six with `l`). */
function replyLines(text: string, kind: RtppCommandKind | undefined): number {
  if (kind !== 'I') return 1;
  const word = text.trim().split(/[ \t]/, 1)[0] ?? '';
  return /l/i.test(word.slice(1)) ? 6 : 5;
}

export class RtppClient {
  readonly spec: RtppSocketSpec;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #maxInFlight: number;
  readonly #cookie: () => string;
  /** Whether cookies come from the built-in generator (valid by construction, not re-checked). */
  readonly #ownCookies: boolean;
  readonly #udp: UdpChannel | undefined;
  readonly #oneShot: OneShotChannel | undefined;
  readonly #stream: PersistentChannel | undefined;
  readonly #settled = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;
  #destroyed = false;

  constructor(options: RtppClientOptions) {
    this.spec = parseSocketSpec(options.socket);
    this.#timeoutMs = options.timeoutMs ?? 3000;
    if (!(this.#timeoutMs > 0)) throw new RtppArgumentError('timeoutMs must be > 0');
    this.#clock = options.clock ?? monotonicClock;
    this.#log = options.logger ?? noopLogger;
    this.#maxInFlight = options.maxInFlight ?? 4096;
    this.#cookie = cookieSource(options.cookie);
    this.#ownCookies = typeof options.cookie !== 'function';
    const spec = this.spec;
    if (isLocalSocketSpec(spec)) {
      if (spec.transport === 'unix') this.#oneShot = new OneShotChannel(spec, this.#clock);
      else {
        this.#stream = new PersistentChannel(spec, this.#clock, this.#log, {
          initialMs: options.reconnect?.initialMs ?? 100,
          maxMs: options.reconnect?.maxMs ?? 5000,
        });
      }
    } else if (spec.transport === 'udp' || spec.transport === 'udp6') {
      this.#udp = new UdpChannel(
        spec,
        this.#clock,
        this.#log,
        {
          initialRttMs: options.initialRttMs ?? 250,
          minRetryMs: options.minRetryMs ?? 50,
          maxFirstRetryMs: options.maxFirstRetryMs ?? 1000,
        },
        (s, handlers) =>
          (options.datagramTransport ?? dgramTransport)(
            s,
            handlers,
            options.localAddress === undefined ? {} : { localAddress: options.localAddress },
          ),
      );
    } else {
      this.#stream = new PersistentChannel(spec, this.#clock, this.#log, {
        initialMs: options.reconnect?.initialMs ?? 100,
        maxMs: options.reconnect?.maxMs ?? 5000,
      });
    }
  }

  /**
   * Sends a command and returns its reply, parsed for the command's kind. Rejects with
   * RtppTimeoutError (budget spent), RtppProtocolError (a reply that does not parse),
   * RtppSocketError (connection trouble), RtppClosedError, or RtppArgumentError.
   * An `E<n>` reply is a reply (`{ kind: 'error', code }`), not a rejection.
   */
  send(command: RtppCommand | string, options: RtppSendOptions = {}): Promise<RtppReply> {
    let text: string;
    let kind: RtppCommandKind | undefined;
    if (typeof command === 'string') {
      text = command;
      kind = commandKindOf(text);
    } else {
      try {
        text = serializeCommand(command);
      } catch (e) {
        return Promise.reject(new RtppArgumentError(`cannot serialise: ${(e as Error).message}`));
      }
      kind = command.kind;
    }
    return this.#request(text, options, (body) => parseBody(body, kind));
  }

  /** Sends command text; returns the reply body (cookie and final newline removed). */
  sendRaw(text: string, options: RtppSendOptions = {}): Promise<string> {
    return this.#request(text, options, stripNewline);
  }

  /**
   * `sendRaw` with a callback instead of a promise: `done` is called once, never synchronously,
   * with the reply body (cookie and final newline removed) or the error `sendRaw` would reject
   * with. Over UDP nothing is allocated per command beyond the datagram and its bookkeeping
   * (no promise, no reaction job): a balancer forwarding thousands of commands a second uses it.
   * `done` must not throw (a throw is logged and dropped).
   */
  sendRawCallback(text: string, done: RtppReplyCallback, options?: RtppSendOptions): void {
    const udp = this.#udp;
    if (udp === undefined) {
      this.sendRaw(text, options).then(
        (body) => done(undefined, body),
        (e: Error) => done(e),
      );
      return;
    }
    const refused = this.#refuse(text);
    if (typeof refused !== 'string') {
      queueMicrotask(() => done(refused));
      return;
    }
    const cookie = this.#nextCookie(udp);
    if (typeof cookie !== 'string') {
      queueMicrotask(() => done(cookie));
      return;
    }
    udp.requestCallback(cookie, refused, options?.timeoutMs ?? this.#timeoutMs, done);
  }

  /** The command to send (trimmed), or why it cannot be sent. */
  #refuse(text: string): string | Error {
    if (this.#destroyed || this.#closing !== undefined) return new RtppClosedError('client closed');
    const command = trimCommand(text);
    const bad = checkCommand(command);
    if (bad !== undefined) return new RtppArgumentError(bad);
    if (this.inFlight >= this.#maxInFlight) {
      return new RtppArgumentError(`${this.#maxInFlight} commands already in flight`);
    }
    return command;
  }

  /** A fresh UDP cookie, unique among the commands in flight. */
  #nextCookie(udp: UdpChannel): string | Error {
    const cookie = this.#cookie();
    // the built-in generator counts up: its cookies are valid and never repeat
    if (this.#ownCookies) return cookie;
    if (cookie === '' || /[\s\0]/.test(cookie)) {
      return new RtppArgumentError(`bad cookie ${JSON.stringify(cookie)}`);
    }
    return udp.has(cookie) ? `${cookie}_${randomBytes(4).toString('hex')}` : cookie;
  }

  #request<T>(text: string, options: RtppSendOptions, map: (body: string) => T): Promise<T> {
    const command = this.#refuse(text);
    if (typeof command !== 'string') return Promise.reject(command);
    const budget = options.timeoutMs ?? this.#timeoutMs;
    if (this.#udp !== undefined) {
      const cookie = this.#nextCookie(this.#udp);
      if (typeof cookie !== 'string') return Promise.reject(cookie);
      return this.#udp.request(cookie, command, budget, map);
    }
    const p =
      this.#oneShot !== undefined
        ? this.#oneShot.request(command, budget)
        : this.#stream!.request(command, replyLines(command, commandKindOf(command)), budget);
    this.#track(p);
    return p.then(map);
  }

  /**
   * Asks `V`, then `VF` for every date of the capability table. Throws RtppProtocolError when
   * `V` is not answered `20040107` (the peer is not an rtpproxy).
   */
  async probe(): Promise<RtppProbeResult> {
    const v = await this.send(versionCommand());
    if (v.kind !== 'value' || v.value !== RTPP_BASE_VERSION) {
      throw new RtppProtocolError(
        `not an rtpproxy: V answered ${JSON.stringify(v.kind === 'value' ? v.value : v)}`,
      );
    }
    const dates = Object.keys(RTPP_CAPABILITIES);
    const features = new Map<string, boolean>();
    const ask = async (date: string): Promise<void> => {
      const r = await this.send(versionFeatureCommand(date));
      features.set(date, r.kind === 'value' && r.value === '1');
    };
    if (this.#oneShot !== undefined) {
      for (const d of dates) await ask(d);
    } else {
      await Promise.all(dates.map(ask));
    }
    // table order, whatever order the replies came in
    return { version: v.value, features: new Map(dates.map((d) => [d, features.get(d)!])) };
  }

  get inFlight(): number {
    return this.#udp?.inFlight ?? this.#oneShot?.inFlight ?? this.#stream?.inFlight ?? 0;
  }

  stats(): RtppClientStats {
    const u = this.#udp?.stats();
    const s: PersistentChannelStats | undefined = this.#stream?.stats();
    return {
      sent: u?.sent ?? this.#sentOther,
      retransmits: u?.retransmits ?? 0,
      timeouts: u?.timeouts ?? this.#timeoutsOther,
      stale: u?.stale ?? 0,
      srttMs: u?.srttMs ?? 0,
      inFlight: this.inFlight,
      connects: s?.connects ?? 0,
      disconnects: s?.disconnects ?? 0,
    };
  }

  #sentOther = 0;
  #timeoutsOther = 0;

  #track(p: Promise<unknown>): void {
    if (this.#udp === undefined) this.#sentOther++;
    const settled = p.then(
      () => {},
      (e: unknown) => {
        if (this.#udp === undefined && (e as { code?: string }).code === 'RTPP_TIMEOUT') {
          this.#timeoutsOther++;
        }
      },
    );
    this.#settled.add(settled);
    void settled.then(() => this.#settled.delete(settled));
  }

  /** Graceful: refuses new commands, waits for those in flight (each within its budget), closes. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const waits: Promise<unknown>[] = [...this.#settled];
    const udp = this.#udp;
    if (udp !== undefined && udp.inFlight > 0) {
      waits.push(
        new Promise<void>((resolve) => {
          udp.onIdle = resolve;
        }),
      );
    }
    this.#closing = Promise.all(waits).then(() => this.destroy());
    return this.#closing;
  }

  /** Immediate: fails every command in flight with RtppClosedError and closes sockets. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#closing ??= Promise.resolve();
    this.#udp?.destroy();
    this.#oneShot?.destroy();
    this.#stream?.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.destroy();
  }
}

function parseBody(body: string, kind: RtppCommandKind | undefined): RtppReply {
  try {
    return parseReply(body, kind);
  } catch (e) {
    if (e instanceof RtppProtocolError) throw e;
    throw new RtppProtocolError(`bad reply: ${(e as Error).message}`, { cause: e });
  }
}

/** Trims the blanks rtpproxy ignores around a command (fast path: nothing to trim). */
function trimCommand(text: string): string {
  const first = text.charCodeAt(0);
  const last = text.charCodeAt(text.length - 1);
  if (first > 32 && last > 32) return text;
  return text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
}

function stripNewline(body: string): string {
  return body.endsWith('\n') ? body.slice(0, body.endsWith('\r\n') ? -2 : -1) : body;
}

function checkCommand(command: string): string | undefined {
  if (command === '') return 'empty command';
  if (command.length > MAX_COMMAND_LENGTH) return `command over ${MAX_COMMAND_LENGTH} bytes`;
  for (let i = 0; i < command.length; i++) {
    const c = command.charCodeAt(i);
    if (c === 10 || c === 13) return 'a command cannot contain a line break';
    if (c === 0) return 'a command cannot contain NUL';
    if (c > 255) return 'a command must be 8-bit text';
  }
  return undefined;
}

function cookieSource(option: string | (() => string) | undefined): () => string {
  if (typeof option === 'function') return option;
  const prefix = option ?? randomBytes(4).toString('hex');
  if (prefix === '' || /[\s\0]/.test(prefix)) {
    throw new RtppArgumentError(`bad cookie prefix ${JSON.stringify(prefix)}`);
  }
  let n = 0;
  return () => `${prefix}_${n++}`;
}
