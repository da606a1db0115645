/**
 * The stream sides of RtppClient.
 *
 * - `unix:` (OneShotChannel): a connection per command; the command is written without a newline
 *   (as Kamailio does), the reply is everything read until the server closes.
 * - `cunix:`/`tcp:` (PersistentChannel): one connection, commands end in `\n`, replies are matched
 *   first-in first-out, one line each (an `I` reply is five `key: value` lines, six with `Il`).
 *   No retransmits. When the connection breaks, commands written on it fail with RtppSocketError;
 *   the next command reconnects, after a back-off that doubles while connecting keeps failing.
 *   A command that times out leaves the reply order unknown, so the connection is dropped too.
 */
import { connect, type Socket } from 'node:net';
import type { Clock, Logger } from '@sipedge/core';
import {
  RtppClosedError,
  RtppProtocolError,
  RtppSocketError,
  RtppTimeoutError,
} from '../errors.js';
import type { RtppSocketSpec } from '../framing/socket-spec.js';
import { MAX_STREAM_LINE, RtppLineDecoder } from '../framing/stream.js';

/** Longest reply read from a unix: socket. */
const MAX_ONE_SHOT_REPLY = 65_536;

function connectOptions(spec: RtppSocketSpec): { path: string } | { host: string; port: number } {
  return 'path' in spec ? { path: spec.path } : { host: spec.host, port: spec.port };
}

function describe(spec: RtppSocketSpec): string {
  return 'path' in spec
    ? `${spec.transport}:${spec.path}`
    : `${spec.transport}:${spec.host}:${spec.port}`;
}

export class OneShotChannel {
  readonly #spec: RtppSocketSpec;
  readonly #clock: Clock;
  readonly #open = new Set<{ socket: Socket; fail(e: Error): void }>();

  constructor(spec: RtppSocketSpec, clock: Clock) {
    this.#spec = spec;
    this.#clock = clock;
  }

  get inFlight(): number {
    return this.#open.size;
  }

  request(command: string, budgetMs: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const socket = connect(connectOptions(this.#spec));
      let out = '';
      let done = false;
      const entry = { socket, fail: (e: Error) => finish(e) };
      this.#open.add(entry);
      const timer = this.#clock.setTimeout(
        () =>
          finish(
            new RtppTimeoutError(`no reply from ${describe(this.#spec)} in ${budgetMs} ms`, 1),
          ),
        budgetMs,
      );
      const finish = (e: Error | undefined): void => {
        if (done) return;
        done = true;
        this.#clock.clearTimeout(timer);
        this.#open.delete(entry);
        socket.destroy();
        if (e !== undefined) reject(e);
        else resolve(out.replace(/\r?\n$/, ''));
      };
      socket.on('connect', () => socket.write(command, 'latin1'));
      socket.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        if (out.length > MAX_ONE_SHOT_REPLY) {
          finish(
            new RtppProtocolError(
              `reply from ${describe(this.#spec)} over ${MAX_ONE_SHOT_REPLY} bytes`,
            ),
          );
        }
      });
      socket.on('error', (e) =>
        finish(new RtppSocketError(`${describe(this.#spec)}: ${e.message}`, { cause: e })),
      );
      socket.on('close', () => {
        if (out === '') {
          finish(
            new RtppSocketError(`${describe(this.#spec)} closed the connection without a reply`),
          );
        } else {
          finish(undefined);
        }
      });
    });
  }

  destroy(): void {
    for (const e of [...this.#open]) e.fail(new RtppClosedError('client destroyed'));
  }
}

interface StreamRequest {
  readonly line: string;
  /** Reply lines expected (1, or 5/6 for I). */
  readonly lines: number;
  readonly budgetMs: number;
  readonly got: string[];
  written: boolean;
  timer: unknown;
  resolve(body: string): void;
  reject(e: Error): void;
}

export interface ReconnectOptions {
  /** First back-off after a failed connect. */
  readonly initialMs: number;
  /** Back-off ceiling. */
  readonly maxMs: number;
}

export interface PersistentChannelStats {
  connects: number;
  disconnects: number;
  unexpectedLines: number;
}

const KEY_VALUE = /^[^:]+: /;

export class PersistentChannel {
  readonly #spec: RtppSocketSpec;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #reconnect: ReconnectOptions;
  /** Commands not written yet (no connection). */
  readonly #waiting: StreamRequest[] = [];
  /** Commands written, in order. */
  readonly #written: StreamRequest[] = [];
  #socket: Socket | undefined;
  #connected = false;
  #decoder = new RtppLineDecoder({ keepBlank: true, maxLine: MAX_STREAM_LINE });
  #backoffMs = 0;
  #backoffTimer: unknown;
  #closed = false;
  #stats: PersistentChannelStats = { connects: 0, disconnects: 0, unexpectedLines: 0 };

  constructor(spec: RtppSocketSpec, clock: Clock, log: Logger, reconnect: ReconnectOptions) {
    this.#spec = spec;
    this.#clock = clock;
    this.#log = log;
    this.#reconnect = reconnect;
  }

  get inFlight(): number {
    return this.#waiting.length + this.#written.length;
  }

  stats(): PersistentChannelStats {
    return { ...this.#stats };
  }

  request(command: string, replyLines: number, budgetMs: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const req: StreamRequest = {
        line: `${command}\n`,
        lines: replyLines,
        budgetMs,
        got: [],
        written: false,
        timer: undefined,
        resolve,
        reject,
      };
      req.timer = this.#clock.setTimeout(() => this.#onTimeout(req), budgetMs);
      if (this.#connected && this.#socket !== undefined) {
        this.#write(req);
      } else {
        this.#waiting.push(req);
        this.#ensureConnection();
      }
    });
  }

  #write(req: StreamRequest): void {
    req.written = true;
    this.#written.push(req);
    this.#socket!.write(req.line, 'latin1');
  }

  #ensureConnection(): void {
    if (this.#socket !== undefined || this.#backoffTimer !== undefined || this.#closed) return;
    const socket = connect(connectOptions(this.#spec));
    socket.setNoDelay?.(true);
    this.#socket = socket;
    this.#decoder = new RtppLineDecoder({ keepBlank: true, maxLine: MAX_STREAM_LINE });
    socket.on('connect', () => {
      if (this.#socket !== socket) return;
      this.#connected = true;
      this.#backoffMs = 0;
      this.#stats.connects++;
      this.#log.debug({ socket: describe(this.#spec) }, 'rtpp stream connected');
      for (const req of this.#waiting.splice(0)) this.#write(req);
    });
    socket.on('data', (d: Buffer) => {
      if (this.#socket === socket) this.#onData(d);
    });
    socket.on('error', (e) => {
      if (this.#socket === socket) this.#drop(e);
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#drop(undefined);
    });
  }

  #onData(d: Buffer): void {
    const r = this.#decoder.push(d);
    for (const line of r.lines) {
      const head = this.#written[0];
      if (head === undefined) {
        this.#stats.unexpectedLines++;
        this.#log.warn({ socket: describe(this.#spec), line }, 'rtpp reply line with no command');
        continue;
      }
      if (head.lines > 1 && head.got.length > 0 && !KEY_VALUE.test(line)) {
        // a short multi-line reply: this line answers the next command
        this.#complete(head);
        this.#onLine(line);
        continue;
      }
      this.#onLine(line);
    }
    if (!r.ok) {
      this.#drop(new RtppProtocolError(`reply line over ${MAX_STREAM_LINE} bytes`));
    }
  }

  #onLine(line: string): void {
    const head = this.#written[0];
    if (head === undefined) {
      this.#stats.unexpectedLines++;
      return;
    }
    head.got.push(line);
    const single = head.got.length === 1 && /^E[0-9]+$/.test(line);
    if (single || head.got.length >= head.lines) this.#complete(head);
  }

  #complete(req: StreamRequest): void {
    this.#written.shift();
    this.#clock.clearTimeout(req.timer);
    req.resolve(req.got.join('\n'));
  }

  #onTimeout(req: StreamRequest): void {
    const i = this.#waiting.indexOf(req);
    if (i >= 0) {
      this.#waiting.splice(i, 1);
      req.reject(
        new RtppTimeoutError(`could not reach ${describe(this.#spec)} in ${req.budgetMs} ms`, 0),
      );
      return;
    }
    if (!this.#written.includes(req)) return;
    req.reject(
      new RtppTimeoutError(`no reply from ${describe(this.#spec)} in ${req.budgetMs} ms`, 1),
    );
    // the reply may still come: the order of the others is unknown from here on
    this.#written.splice(this.#written.indexOf(req), 1);
    this.#drop(new RtppSocketError('connection dropped after a reply timeout'));
  }

  /** The connection broke (or was dropped): fail what was written on it, plan the reconnect. */
  #drop(cause: Error | undefined): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    const wasConnected = this.#connected;
    this.#socket = undefined;
    this.#connected = false;
    socket.destroy();
    const where = describe(this.#spec);
    const err =
      cause instanceof RtppSocketError || cause instanceof RtppProtocolError
        ? cause
        : new RtppSocketError(
            `${where}: ${cause === undefined ? 'connection closed' : cause.message}`,
            cause === undefined ? undefined : { cause },
          );
    for (const req of this.#written.splice(0)) {
      this.#clock.clearTimeout(req.timer);
      req.reject(err);
    }
    if (wasConnected) {
      this.#stats.disconnects++;
      this.#log.warn({ socket: where, err: err.message }, 'rtpp stream connection lost');
      this.#backoffMs = 0;
    } else {
      // connecting failed: the commands waiting for this connection fail, later ones wait
      for (const req of this.#waiting.splice(0)) {
        this.#clock.clearTimeout(req.timer);
        req.reject(err);
      }
      this.#backoffMs =
        this.#backoffMs === 0
          ? this.#reconnect.initialMs
          : Math.min(this.#reconnect.maxMs, this.#backoffMs * 2);
      this.#log.debug({ socket: where, backoffMs: this.#backoffMs }, 'rtpp connect failed');
    }
    if (this.#backoffMs > 0 && !this.#closed) {
      this.#backoffTimer = this.#clock.setTimeout(() => {
        this.#backoffTimer = undefined;
        if (this.#waiting.length > 0) this.#ensureConnection();
      }, this.#backoffMs);
    } else if (this.#waiting.length > 0) {
      this.#ensureConnection();
    }
  }

  /** Fails everything with RtppClosedError and closes the connection. */
  destroy(): void {
    this.#closed = true;
    if (this.#backoffTimer !== undefined) this.#clock.clearTimeout(this.#backoffTimer);
    this.#backoffTimer = undefined;
    const err = new RtppClosedError('client destroyed');
    for (const req of [...this.#waiting.splice(0), ...this.#written.splice(0)]) {
      this.#clock.clearTimeout(req.timer);
      req.reject(err);
    }
    const s = this.#socket;
    this.#socket = undefined;
    this.#connected = false;
    s?.destroy();
  }
}
