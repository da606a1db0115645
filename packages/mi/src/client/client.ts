import http from 'node:http';
import https from 'node:https';
import type { WebSocket } from 'ws';
import { MiClosedError, MiRpcError, MiTimeoutError, MiTransportError } from '../errors.js';
import type { EventParams } from '../events/bus.js';

/** `WebSocket.OPEN`, without loading ws for HTTP-only use. */
const OPEN = 1;

let wsModule: Promise<typeof import('ws')> | undefined;

export type MiParams = unknown[] | Record<string, unknown>;

/** Delay before reconnect attempt `n` (1-based), or undefined to give up. */
export type ReconnectPolicy = (attempt: number) => number | undefined;

/** 100 ms doubling to 5 s, at most 100 attempts. */
export const defaultReconnect: ReconnectPolicy = (n) =>
  n > 100 ? undefined : Math.min(5000, 100 * 2 ** Math.min(n - 1, 6));

export interface MiClientOptions {
  /** `http://127.0.0.1:8888/mi` or `ws://127.0.0.1:8888/mi/ws` (https/wss too). */
  url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Per call, default 10 s. */
  timeoutMs?: number;
  /** WebSocket only: reconnect after a drop while subscriptions exist. */
  reconnect?: ReconnectPolicy;
  /** WebSocket only: called after a reconnect restored the subscriptions. */
  onReconnect?: () => void;
  /** WebSocket only: called when the reconnect policy gives up; subscriptions are then dead. */
  onReconnectFailed?: () => void;
  /** WebSocket only: called when the connection drops (before any reconnect). */
  onDisconnect?: (err: Error) => void;
  /** HTTP only: sockets kept alive, default 8. */
  maxSockets?: number;
  /** https:// and wss://: the CA list to verify the server with, our certificate if asked. */
  tls?: Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
}

/** A live event subscription; `unsubscribe()` ends it. */
export interface MiSubscription {
  readonly event: string;
  unsubscribe(): Promise<void>;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

type Reply = {
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
  id?: unknown;
};

function unwrap(reply: Reply): unknown {
  if (reply.error !== undefined) {
    throw new MiRpcError(reply.error.code, reply.error.message, reply.error.data);
  }
  return reply.result;
}

/**
 * A client for the MI over HTTP (keep-alive) or WebSocket, chosen by the URL scheme. Calls
 * resolve with the `result` or reject with `MiRpcError` (a JSON-RPC error), `MiTransportError`
 * (no connection, HTTP status not 200/202), `MiTimeoutError` or `MiClosedError`.
 */
export class MiClient {
  readonly #url: URL;
  readonly #ws: boolean;
  readonly #token: string | undefined;
  readonly #timeout: number;
  readonly #reconnect: ReconnectPolicy;
  readonly #opts: MiClientOptions;
  readonly #agent: http.Agent | undefined;
  #seq = 0;
  #closed = false;
  #socket: WebSocket | undefined;
  #connecting: Promise<WebSocket> | undefined;
  readonly #pending = new Map<number, Pending>();
  readonly #handlers = new Map<string, Set<(params: EventParams) => void>>();
  #reconnectTimer: NodeJS.Timeout | undefined;

  constructor(options: MiClientOptions) {
    this.#opts = options;
    try {
      this.#url = new URL(options.url);
    } catch {
      throw new MiTransportError(`bad MI URL '${options.url}'`);
    }
    const p = this.#url.protocol;
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(p)) {
      throw new MiTransportError(`unsupported MI URL scheme '${p}'`);
    }
    this.#ws = p === 'ws:' || p === 'wss:';
    this.#token = options.token;
    this.#timeout = options.timeoutMs ?? 10_000;
    this.#reconnect = options.reconnect ?? defaultReconnect;
    if (!this.#ws) {
      const Agent = p === 'https:' ? https.Agent : http.Agent;
      this.#agent = new Agent({
        keepAlive: true,
        maxSockets: options.maxSockets ?? 8,
        ...(p === 'https:' ? options.tls : {}),
      });
    }
  }

  /** Call a command; resolves with its result. */
  call(method: string, params?: MiParams): Promise<unknown> {
    if (this.#closed) return Promise.reject(new MiClosedError());
    const id = ++this.#seq;
    const req: Record<string, unknown> = { jsonrpc: '2.0', method };
    if (params !== undefined) req.params = params;
    req.id = id;
    return this.#ws ? this.#wsCall(id, JSON.stringify(req)) : this.#httpCall(JSON.stringify(req));
  }

  /** Send a notification (no reply expected). */
  async notify(method: string, params?: MiParams): Promise<void> {
    if (this.#closed) throw new MiClosedError();
    const req: Record<string, unknown> = { jsonrpc: '2.0', method };
    if (params !== undefined) req.params = params;
    const text = JSON.stringify(req);
    if (this.#ws) (await this.#connect()).send(text);
    else await this.#httpCall(text);
  }

  /**
   * Subscribe to an event over WebSocket; `handler` gets each event's params. The subscription
   * is renewed after a reconnect.
   */
  async subscribe(event: string, handler: (params: EventParams) => void): Promise<MiSubscription> {
    if (!this.#ws) throw new MiTransportError('event subscriptions need a ws:// URL');
    let set = this.#handlers.get(event);
    const first = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.#handlers.set(event, set);
    }
    set.add(handler);
    if (first) {
      try {
        await this.call('event_subscribe', [event]);
      } catch (err) {
        set.delete(handler);
        if (set.size === 0) this.#handlers.delete(event);
        throw err;
      }
    }
    return {
      event,
      unsubscribe: async () => {
        const s = this.#handlers.get(event);
        if (s === undefined || !s.delete(handler)) return;
        if (s.size === 0) {
          this.#handlers.delete(event);
          if (!this.#closed && this.#socket?.readyState === OPEN) {
            await this.call('event_unsubscribe', [event]).catch(() => {});
          }
        }
      },
    };
  }

  /** Close sockets; pending calls reject with `MiClosedError`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#failAll(new MiClosedError());
    this.#socket?.close(1000);
    this.#socket = undefined;
    this.#agent?.destroy();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #headers(): Record<string, string> {
    return this.#token === undefined ? {} : { Authorization: `Bearer ${this.#token}` };
  }

  #httpCall(body: string): Promise<unknown> {
    const mod = this.#url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        this.#url,
        {
          method: 'POST',
          agent: this.#agent,
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': String(Buffer.byteLength(body)),
            ...this.#headers(),
          },
          timeout: this.#timeout,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(new MiTransportError(err.message, { cause: err })));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status === 202) {
              resolve(undefined);
              return;
            }
            if (status !== 200) {
              return reject(
                new MiTransportError(`HTTP ${status} ${res.statusMessage ?? ''}`.trim()),
              );
            }
            let reply: Reply;
            try {
              reply = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Reply;
            } catch (err) {
              return reject(new MiTransportError('reply is not JSON', { cause: err }));
            }
            try {
              resolve(unwrap(reply));
            } catch (err) {
              reject(err as Error);
            }
          });
        },
      );
      req.on('timeout', () => {
        req.destroy();
        reject(new MiTimeoutError(`no reply within ${this.#timeout} ms`));
      });
      req.on('error', (err) => {
        reject(
          new MiTransportError(`cannot reach ${this.#url.href}: ${err.message}`, { cause: err }),
        );
      });
      req.end(body);
    });
  }

  async #wsCall(id: number, text: string): Promise<unknown> {
    const ws = await this.#connect();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new MiTimeoutError(`no reply within ${this.#timeout} ms`));
      }, this.#timeout);
      this.#pending.set(id, { resolve, reject, timer });
      ws.send(text, (err) => {
        if (err === undefined || err === null) return;
        const p = this.#pending.get(id);
        if (p === undefined) return;
        this.#pending.delete(id);
        clearTimeout(p.timer);
        reject(new MiTransportError(err.message, { cause: err }));
      });
    });
  }

  #connect(): Promise<WebSocket> {
    if (this.#closed) return Promise.reject(new MiClosedError());
    if (this.#socket?.readyState === OPEN) return Promise.resolve(this.#socket);
    wsModule ??= import('ws');
    const mod = wsModule;
    this.#connecting ??= new Promise<WebSocket>((resolve, reject) => {
      mod.then(
        ({ WebSocket: Ws }) => this.#open(Ws, resolve, reject),
        (err: unknown) => {
          this.#connecting = undefined;
          reject(new MiTransportError('cannot load ws', { cause: err }));
        },
      );
    });
    return this.#connecting;
  }

  #open(
    Ws: typeof WebSocket,
    resolve: (ws: WebSocket) => void,
    reject: (err: Error) => void,
  ): void {
    if (this.#closed) {
      this.#connecting = undefined;
      reject(new MiClosedError());
      return;
    }
    {
      const ws = new Ws(this.#url, {
        headers: this.#headers(),
        handshakeTimeout: this.#timeout,
        perMessageDeflate: false,
        ...(this.#url.protocol === 'wss:' ? this.#opts.tls : {}),
      });
      ws.once('open', () => {
        this.#socket = ws;
        this.#connecting = undefined;
        resolve(ws);
      });
      ws.once('unexpected-response', (_req, res) => {
        this.#connecting = undefined;
        ws.terminate();
        reject(new MiTransportError(`HTTP ${res.statusCode ?? 0} on WebSocket upgrade`));
      });
      ws.on('error', (err) => {
        if (this.#socket !== ws) {
          this.#connecting = undefined;
          reject(
            new MiTransportError(`cannot reach ${this.#url.href}: ${err.message}`, { cause: err }),
          );
        }
      });
      ws.on('message', (data) => this.#onMessage(String(data)));
      ws.on('close', () => {
        if (this.#socket !== ws) return;
        this.#socket = undefined;
        const err = new MiTransportError('WebSocket closed');
        this.#failAll(err);
        this.#opts.onDisconnect?.(err);
        if (!this.#closed && this.#handlers.size > 0) this.#scheduleReconnect(1);
      });
    }
  }

  #scheduleReconnect(attempt: number): void {
    if (this.#closed) return;
    const delay = this.#reconnect(attempt);
    if (delay === undefined) {
      this.#opts.onReconnectFailed?.();
      return;
    }
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#resubscribe().then(
        () => this.#opts.onReconnect?.(),
        () => {
          if (this.#socket?.readyState === OPEN) this.#socket.terminate();
          this.#socket = undefined;
          this.#scheduleReconnect(attempt + 1);
        },
      );
    }, delay);
  }

  async #resubscribe(): Promise<void> {
    await this.#connect();
    for (const event of this.#handlers.keys()) await this.call('event_subscribe', [event]);
  }

  #onMessage(text: string): void {
    let msg: Reply & { method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return;
    }
    if (Array.isArray(msg)) {
      for (const m of msg as Reply[]) this.#settle(m);
      return;
    }
    if (typeof msg.method === 'string' && !('id' in msg)) {
      const handlers = this.#handlers.get(msg.method);
      if (handlers === undefined) return;
      const params = (
        typeof msg.params === 'object' && msg.params !== null ? msg.params : {}
      ) as EventParams;
      for (const h of handlers) h(params);
      return;
    }
    this.#settle(msg);
  }

  #settle(msg: Reply): void {
    if (typeof msg.id !== 'number') return;
    const p = this.#pending.get(msg.id);
    if (p === undefined) return;
    this.#pending.delete(msg.id);
    clearTimeout(p.timer);
    try {
      p.resolve(unwrap(msg));
    } catch (err) {
      p.reject(err as Error);
    }
  }

  #failAll(err: Error): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.#pending.delete(id);
    }
  }
}
