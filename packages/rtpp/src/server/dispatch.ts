/**
 * RtppServer's dispatch: one command text in, one reply body out (ending in `\n`). The text
 * handler sees the text first; what it declines is parsed and goes to the handler. A command
 * that does not parse gets its `E<n>`, a handler that fails the internal-error reply. The
 * transports call `dispatch`; the server reads the commands in flight to stop gracefully.
 */
import type { Clock, Logger } from '@sipedge/core';
import { type ParseCommandOptions, parseCommand } from '../codec/parse-command.js';
import { errorReply, serializeReply } from '../codec/reply.js';
import { RtppErrorCode, type RtppReply } from '../types.js';
import type {
  RtppHandler,
  RtppRequestContext,
  RtppServerOptions,
  RtppServerStats,
  RtppTextHandler,
} from './options.js';

/** The counters of RtppServerStats, kept by the dispatch and the transports alike. */
export type ServerCounters = Omit<RtppServerStats, 'cached' | 'inFlight' | 'openConnections'>;

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

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class CommandDispatch {
  /** The server takes new commands (it is starting or running). */
  accepting = false;
  /** The server is stopped: replies computed from now on are not sent. */
  discarding = false;
  readonly #handler: RtppHandler;
  readonly #textHandler: RtppTextHandler | undefined;
  readonly #counters: ServerCounters;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #internalCode: number;
  readonly #parseErrorCode: ((code: number) => number) | undefined;
  readonly #parse: ParseCommandOptions;
  #inFlight = 0;
  #idleWaiters: (() => void)[] = [];

  constructor(options: RtppServerOptions, counters: ServerCounters, log: Logger, clock: Clock) {
    this.#handler = options.handler;
    this.#textHandler = options.textHandler;
    this.#counters = counters;
    this.#log = log;
    this.#clock = clock;
    this.#internalCode = options.internalErrorCode ?? RtppErrorCode.NOMEM_9;
    this.#parseErrorCode = options.parseErrorCode;
    this.#parse = options.parse ?? {};
  }

  /** Commands being handled now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Parses and handles one command text, then calls `done` with the reply body (ending in `\n`),
   * synchronously when the handler is synchronous. `done` is not called after destroy().
   */
  dispatch(text: string, ctx: RtppRequestContext, done: (body: string) => void): void {
    this.#counters.received++;
    if (this.#textHandler !== undefined && this.#dispatchText(text, ctx, done)) return;
    const parsed = parseCommand(text, this.#parse);
    if (!parsed.ok) {
      this.#counters.errors++;
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
      this.#counters.handlerErrors++;
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
      this.#counters.handlerErrors++;
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
      this.#counters.handlerErrors++;
      this.#log.error({ socket: ctx.socket, err: errText(e) }, 'rtpp text handler failed');
      respond(serializeReply(errorReply(this.#internalCode)));
    });
    return true;
  }

  /** Hands a reply to its transport; a socket that went away meanwhile is logged, not thrown. */
  #deliver(done: (body: string) => void, body: string, ctx: RtppRequestContext): void {
    if (this.discarding) return;
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

  /** Resolves once no command is in flight, or after `limitMs` (logged). */
  waitIdle(limitMs: number): Promise<void> {
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

  /** Resolves every `waitIdle` at once (destroy). */
  releaseWaiters(): void {
    for (const w of this.#idleWaiters.splice(0)) w();
  }
}
