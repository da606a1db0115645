// Over 500 lines: HTTP, WebSocket and pages share one listener's limits and auth checks.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Clock, type Logger, noopLogger } from '@sipedge/core';
import { WebSocket, WebSocketServer } from 'ws';
import type { MiSession } from '../command.js';
import { MiError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { MiRegistry } from '../registry.js';
import { handleJsonRpc, type JsonRpcReply, registerEngineStatistics } from '../rpc/engine.js';
import {
  bearerFromProtocols,
  checkBearer,
  checkBindPolicy,
  isOwnLiteralOrigin,
  MI_WS_BEARER_PREFIX,
  MI_WS_PROTOCOL,
} from '../security/policy.js';
import { type Counter, StatisticsRegistry } from '../stats/registry.js';
import { ConnectionLimits } from './limits.js';
import type { MiPages } from './pages.js';

export interface MiServerOptions {
  registry: MiRegistry;
  /** Subscriptions of a WebSocket session end when it closes. */
  events?: EventBus;
  /** Counters `mi:*` (requests, rejects, drops) go here. */
  stats?: StatisticsRegistry;
  logger?: Logger;
  /** Default 127.0.0.1. Anything but loopback requires `token`. */
  host?: string;
  /** Default 8888 (OpenSIPS httpd's); 0 picks a free port. */
  port?: number;
  /** HTTP root, default `/mi`: `/mi`, `/mi/…` and `/mi?…` match. */
  root?: string;
  /** WebSocket path, default `/mi/ws`; `false` turns WebSocket off. */
  wsPath?: string | false;
  /** Bearer token; when set every HTTP request and WebSocket upgrade must carry it. */
  token?: string;
  /**
   * Browser origins allowed to call (exact `Origin` header values). A request or upgrade that
   * carries any other `Origin` gets 403: browsers send it, scripts and CLIs do not, so a web
   * page cannot drive a loopback MI (cross-site request or DNS rebinding). Default: none.
   */
  allowedOrigins?: readonly string[];
  /** Pages served outside the MI root (a dashboard); default none (404). */
  pages?: MiPages;
  /** Largest request body or WebSocket message, default 1 MiB. */
  maxBodyBytes?: number;
  /** Open TCP connections at most, default 128. */
  maxConnections?: number;
  /** Open TCP connections of one source address at most (WebSocket ones too), default 32. */
  maxConnectionsPerSource?: number;
  /** WebSocket clients at most, default 64. */
  maxWsClients?: number;
  /** WebSocket clients of one source address at most, default 16. */
  maxWsClientsPerSource?: number;
  /** A WebSocket client with more than this many bytes waiting is dropped, default 1 MiB. */
  wsMaxBufferedBytes?: number;
  /** Ping every WebSocket client this often; one missed pong closes it. Default 30 s. */
  pingIntervalMs?: number;
  /**
   * Time to receive a whole HTTP request (headers and body), from the accept or from the end of
   * the keep-alive idle time after the previous answer; not restarted by each chunk. Default 10 s.
   */
  requestTimeoutMs?: number;
  /** HTTPS (and WSS) with these options (certificate, key, client verification…); default HTTP. */
  tls?: https.ServerOptions;
  /** An answered connection idle this long is closed, default 5 s. */
  keepAliveTimeoutMs?: number;
  /** Timers of the request deadlines (default: monotonic, unref'd). */
  clock?: Clock;
}

/** What each statistic of the server counts (`mi:<name>`). */
const SERVER_STATS = {
  http_requests: 'HTTP requests to the MI server',
  http_rejected:
    'MI HTTP requests refused (path, origin, token, method, malformed or over the connection cap)',
  oversize: 'MI HTTP requests refused for a body over the size limit',
  ws_connections: 'MI WebSocket connections accepted',
  ws_rejected: 'MI WebSocket upgrades refused',
  ws_messages: 'MI WebSocket messages received',
  ws_slow_dropped: 'MI WebSocket clients closed for not reading their replies and events',
  ws_timeouts: 'MI WebSocket clients closed for not answering pings',
} as const;

type ServerStats = Record<keyof typeof SERVER_STATS, Counter>;

const JSON_HEADERS = { 'Content-Type': 'application/json' };

function matchesRoot(pathname: string, root: string): boolean {
  if (!pathname.startsWith(root)) return false;
  const next = pathname.charAt(root.length);
  return next === '' || next === '/';
}

/**
 * The MI listener: JSON-RPC over HTTP POST (OpenSIPS mi_http status codes) and over WebSocket
 * with event subscriptions, on one port. `start()` listens; `stop()` closes everything.
 */
export class MiServer {
  readonly #o: Required<
    Omit<
      MiServerOptions,
      | 'events'
      | 'token'
      | 'stats'
      | 'logger'
      | 'registry'
      | 'wsPath'
      | 'allowedOrigins'
      | 'tls'
      | 'clock'
      | 'pages'
    >
  > & { wsPath: string | false };
  readonly #origins: ReadonlySet<string>;
  readonly #pages: MiPages | undefined;
  readonly #registry: MiRegistry;
  readonly #events: EventBus | undefined;
  readonly #token: string | undefined;
  readonly #logger: Logger;
  readonly #statsRegistry: StatisticsRegistry;
  readonly #st: ServerStats;
  readonly #server: http.Server | https.Server;
  readonly #wss: WebSocketServer | undefined;
  readonly #limits: ConnectionLimits;
  readonly #alive = new WeakMap<WebSocket, boolean>();
  #timer: NodeJS.Timeout | undefined;
  #sessionSeq = 0;
  #open = 0;
  #started = false;
  #stopping: Promise<void> | undefined;

  constructor(options: MiServerOptions) {
    const host = options.host ?? '127.0.0.1';
    checkBindPolicy(host, options.token);
    this.#registry = options.registry;
    this.#events = options.events;
    this.#token = options.token;
    this.#origins = new Set(options.allowedOrigins ?? []);
    this.#pages = options.pages;
    this.#logger = options.logger ?? noopLogger;
    this.#o = {
      host,
      port: options.port ?? 8888,
      root: (options.root ?? '/mi').replace(/\/+$/, '') || '/',
      wsPath: options.wsPath === undefined ? '/mi/ws' : options.wsPath,
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
      maxConnections: options.maxConnections ?? 128,
      maxConnectionsPerSource: options.maxConnectionsPerSource ?? 32,
      maxWsClients: options.maxWsClients ?? 64,
      maxWsClientsPerSource: options.maxWsClientsPerSource ?? 16,
      wsMaxBufferedBytes: options.wsMaxBufferedBytes ?? 1024 * 1024,
      pingIntervalMs: options.pingIntervalMs ?? 30_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 5_000,
    };
    this.#statsRegistry = options.stats ?? new StatisticsRegistry();
    const s = this.#statsRegistry;
    registerEngineStatistics(s);
    this.#st = Object.fromEntries(
      Object.entries(SERVER_STATS).map(([name, help]) => [name, s.counter('mi', name, help)]),
    ) as ServerStats;
    this.#limits = new ConnectionLimits(this.#o, s, this.#logger, options.clock);
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void =>
      this.#onRequest(req, res);
    const requestTimeout = this.#o.requestTimeoutMs;
    this.#server =
      options.tls === undefined
        ? http.createServer({ requestTimeout }, onRequest)
        : https.createServer({ ...options.tls, requestTimeout }, onRequest);
    this.#server.maxConnections = this.#o.maxConnections;
    this.#server.keepAliveTimeout = this.#o.keepAliveTimeoutMs;
    this.#server.on('connection', (socket: Socket) => {
      this.#open++;
      socket.once('close', () => {
        this.#open--;
      });
      if (!this.#limits.admit(socket)) socket.destroy();
    });
    this.#server.on('drop', () => this.#st.http_rejected.inc());
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      this.#st.http_rejected.inc();
      const status =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
      else socket.destroy();
    });
    if (this.#o.wsPath !== false) {
      this.#wss = new WebSocketServer({
        noServer: true,
        maxPayload: this.#o.maxBodyBytes,
        clientTracking: true,
        perMessageDeflate: false,
        // the MI protocol when offered, else any but the one carrying the token
        handleProtocols: (offered) =>
          offered.has(MI_WS_PROTOCOL)
            ? MI_WS_PROTOCOL
            : ([...offered].find((p) => !p.startsWith(MI_WS_BEARER_PREFIX)) ?? false),
      });
      this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    }
  }

  /** Listen; resolves with the bound address. */
  async start(): Promise<AddressInfo> {
    if (this.#started) return this.address();
    this.#started = true;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(this.#o.port, this.#o.host, () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.#started = false;
      throw err;
    }
    if (this.#wss !== undefined && this.#o.pingIntervalMs > 0) {
      this.#timer = setInterval(() => this.#pingAll(), this.#o.pingIntervalMs);
      this.#timer.unref();
    }
    return this.address();
  }

  address(): AddressInfo {
    const a = this.#server.address();
    if (a === null || typeof a === 'string') throw new Error('MI server is not listening');
    return a;
  }

  /** `http://host:port/root` (`https://` with TLS) of the running server. */
  get url(): string {
    const a = this.address();
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.#secure ? 'https' : 'http'}://${host}:${a.port}${this.#o.root}`;
  }

  /** `ws://host:port/wsPath` (`wss://` with TLS) of the running server. */
  get wsUrl(): string {
    const a = this.address();
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.#secure ? 'wss' : 'ws'}://${host}:${a.port}${this.#o.wsPath === false ? '' : this.#o.wsPath}`;
  }

  get #secure(): boolean {
    return this.#server instanceof https.Server;
  }

  /** New certificates for an HTTPS server (a renewal): new connections get them. */
  setSecureContext(options: https.ServerOptions): void {
    if (!(this.#server instanceof https.Server))
      throw new MiError('MI_TLS', 'setSecureContext: this MI server is plain HTTP');
    this.#server.setSecureContext(options);
  }

  /** TCP connections now open (HTTP and WebSocket). */
  get connections(): number {
    return this.#open;
  }

  /** WebSocket clients now connected. */
  get wsClients(): number {
    return this.#wss?.clients.size ?? 0;
  }

  /** Close the listener and every connection (WebSocket clients get 1001). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#timer !== undefined) clearInterval(this.#timer);
      if (this.#wss !== undefined) {
        for (const ws of this.#wss.clients) ws.close(1001, 'server stopping');
        const closing = [...this.#wss.clients].map(
          (ws) =>
            new Promise<void>((resolve) => {
              const t = setTimeout(() => {
                ws.terminate();
                resolve();
              }, 1000);
              ws.once('close', () => {
                clearTimeout(t);
                resolve();
              });
            }),
        );
        await Promise.all(closing);
        this.#wss.close();
      }
      if (!this.#started) return;
      await new Promise<void>((resolve) => {
        this.#server.close(() => resolve());
        this.#server.closeAllConnections();
      });
    })();
    return this.#stopping;
  }

  /** Drop every connection at once and close the listener. Idempotent. */
  destroy(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const ws of this.#wss?.clients ?? []) ws.terminate();
    this.#wss?.close();
    this.#server.closeAllConnections();
    if (this.#server.listening) this.#server.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #originAllowed(req: http.IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined || this.#origins.has(origin)) return true;
    // the listener's own pages, when it serves any
    return this.#pages !== undefined && isOwnLiteralOrigin(origin, req.headers.host, this.#secure);
  }

  /** A bearer token in `Authorization` or, on a WebSocket upgrade, in a subprotocol. */
  #authorized(req: http.IncomingMessage, upgrade = false): boolean {
    if (this.#token === undefined) return true;
    const header =
      req.headers.authorization ??
      (upgrade ? bearerFromProtocols(req.headers['sec-websocket-protocol']) : undefined);
    return checkBearer(header, this.#token);
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.#st.http_requests.inc();
    const socket = req.socket;
    this.#limits.requestStarted(socket, () => {
      if (res.headersSent) {
        socket.destroy();
        return;
      }
      res.once('finish', () => socket.destroy());
      res.writeHead(408, { 'Content-Length': '0', Connection: 'close' });
      res.end();
    });
    res.once('finish', () => this.#limits.responded(socket));
    const pathname = (req.url ?? '/').split('?', 1)[0]!;
    const reject = (status: number, headers: Record<string, string> = {}): void => {
      this.#st.http_rejected.inc();
      res.writeHead(status, { 'Content-Length': '0', ...headers });
      res.end();
    };
    if (!matchesRoot(pathname, this.#o.root)) {
      const pages = this.#pages;
      if (pages === undefined || !matchesRoot(pathname, pages.path.replace(/\/+$/, ''))) {
        reject(404);
        return;
      }
      if (!this.#originAllowed(req)) reject(403);
      else if (req.method !== 'GET' && req.method !== 'HEAD') reject(405, { Allow: 'GET, HEAD' });
      else pages.serve(req, res, pathname);
      return;
    }
    if (!this.#originAllowed(req)) {
      reject(403);
      return;
    }
    if (!this.#authorized(req)) {
      reject(401, { 'WWW-Authenticate': 'Bearer' });
      return;
    }
    if (req.method !== 'POST') {
      reject(405, { Allow: 'POST' });
      return;
    }
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > this.#o.maxBodyBytes) {
      this.#st.oversize.inc();
      reject(413, { Connection: 'close' });
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (chunk: Buffer) => {
      if (tooBig) return;
      size += chunk.length;
      if (size > this.#o.maxBodyBytes) {
        tooBig = true;
        this.#st.oversize.inc();
        chunks.length = 0;
        // answer first, then cut the connection: the rest of the body is never read
        res.once('finish', () => req.destroy());
        reject(413, { Connection: 'close' });
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {});
    req.on('end', () => {
      this.#limits.requestRead(socket);
      if (tooBig) return;
      const body = Buffer.concat(chunks, size);
      if (body.toString('utf8').trim().length === 0) {
        reject(400);
        return;
      }
      handleJsonRpc(this.#registry, body, {
        context: { transport: 'http' },
        stats: this.#statsRegistry,
        logger: this.#logger,
      }).then(
        (reply) => this.#sendReply(res, reply),
        (err: unknown) => {
          this.#logger.error({ err }, 'MI HTTP handling failed');
          if (!res.headersSent) reject(500);
        },
      );
    });
  }

  #sendReply(res: http.ServerResponse, reply: JsonRpcReply): void {
    if (reply === undefined) {
      res.writeHead(202, { 'Content-Length': '0' });
      res.end();
      return;
    }
    const text = JSON.stringify(reply);
    res.writeHead(200, { ...JSON_HEADERS, 'Content-Length': String(Buffer.byteLength(text)) });
    res.end(text);
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const wss = this.#wss!;
    const pathname = (req.url ?? '/').split('?', 1)[0]!;
    const refuse = (status: number, text: string, extra = ''): void => {
      this.#st.ws_rejected.inc();
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${extra}Content-Length: 0\r\n\r\n`,
      );
    };
    socket.on('error', () => {});
    if (pathname !== this.#o.wsPath) {
      refuse(404, 'Not Found');
      return;
    }
    if (!this.#originAllowed(req)) {
      refuse(403, 'Forbidden');
      return;
    }
    if (!this.#authorized(req, true)) {
      refuse(401, 'Unauthorized', 'WWW-Authenticate: Bearer\r\n');
      return;
    }
    if (wss.clients.size >= this.#o.maxWsClients || !this.#limits.admitWs(req.socket)) {
      refuse(503, 'Service Unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws));
  }

  #onConnection(ws: WebSocket): void {
    this.#st.ws_connections.inc();
    this.#alive.set(ws, true);
    const id = String(++this.#sessionSeq);
    const closeListeners: (() => void)[] = [];
    const max = this.#o.wsMaxBufferedBytes;
    const session: MiSession = {
      id,
      send: (text) => this.#send(ws, text, max),
      onClose: (l) => {
        closeListeners.push(l);
      },
    };
    ws.on('pong', () => this.#alive.set(ws, true));
    ws.on('error', (err) => this.#logger.debug({ err, session: id }, 'MI WebSocket error'));
    ws.on('close', () => {
      this.#events?.unsubscribeAll(`ws:${id}`);
      for (const l of closeListeners.splice(0)) {
        try {
          l();
        } catch (err) {
          this.#logger.warn({ err }, 'session close listener threw');
        }
      }
    });
    ws.on('message', (data) => {
      this.#st.ws_messages.inc();
      const body = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      handleJsonRpc(this.#registry, body, {
        context: { transport: 'ws', session },
        stats: this.#statsRegistry,
        logger: this.#logger,
      }).then(
        (reply) => {
          if (reply !== undefined) this.#send(ws, JSON.stringify(reply), max);
        },
        (err: unknown) => this.#logger.error({ err }, 'MI WebSocket handling failed'),
      );
    });
  }

  /** Send or, if the client is not reading, drop it: the queue never grows past `max`. */
  #send(ws: WebSocket, text: string, max: number): boolean {
    if (ws.readyState !== WebSocket.OPEN) return false;
    if (ws.bufferedAmount + Buffer.byteLength(text) > max) {
      this.#st.ws_slow_dropped.inc();
      this.#logger.warn({}, 'MI WebSocket client too slow, dropped');
      ws.terminate();
      return false;
    }
    ws.send(text);
    return true;
  }

  #pingAll(): void {
    if (this.#wss === undefined) return;
    for (const ws of this.#wss.clients) {
      if (this.#alive.get(ws) === false) {
        this.#st.ws_timeouts.inc();
        ws.terminate();
        continue;
      }
      this.#alive.set(ws, false);
      ws.ping();
    }
  }
}
