// Over 500 lines: the four transports, their flows and the send routing over them are one class.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  createServer as createTcpServer,
  type Server,
  type Socket,
  connect as tcpConnect,
} from 'node:net';
import {
  type ConnectionOptions,
  createServer as createTlsServer,
  type SecureContextOptions,
  type TlsOptions,
  connect as tlsConnect,
} from 'node:tls';
import {
  type Logger,
  LogLimiter,
  literalFirstLookup,
  noopLogger,
  plainAddress,
} from '@sipedge/core';
import { type WebSocket, WebSocketServer } from 'ws';
import { SipParseError, SipTransportError } from '../errors.js';
import { StreamFramer } from '../framing/stream.js';
import {
  type ConnectionCloseReason,
  ConnectionLimits,
  type ConnectionRefusal,
  type TrackedConnection,
} from '../limits/connection-limits.js';
import type { SipMessage } from '../message/message.js';
import { parseMessage } from '../message/parse-message.js';
import { responseToUnparseable } from '../message/unparseable.js';
import type { Endpoint } from '../transaction/layer.js';
import {
  bare,
  type Flow,
  type StreamFlow,
  type TransportCounters,
  type TransportName,
  type TransportsOptions,
} from './types.js';

export type { Flow, TransportCounters, TransportName, TransportsOptions } from './types.js';

/**
 * UDP, TCP, TLS and WebSocket (RFC 7118) listeners and connections behind one `send`.
 * Stream connections are flows, reused for every message to the same remote address and
 * addressable by flow id (for RFC 5626 flow tokens) or by an alias (RFC 5923).
 */
export class SipTransports {
  readonly #o: TransportsOptions;
  readonly #log: Logger;
  readonly #udp: { v4?: UdpSocket; v6?: UdpSocket } = {};
  readonly #servers: Array<Server | WebSocketServer> = [];
  /** TLS and WSS listeners, for `setSecureContext`. */
  readonly #tlsServers: Array<{ setSecureContext(options: SecureContextOptions): void }> = [];
  #tlsClient: ConnectionOptions;
  readonly #flows = new Map<string, StreamFlow>();
  readonly #byRemote = new Map<string, string>();
  #seq = 0;
  readonly counters: TransportCounters = {
    parseErrors: 0,
    closedForLimits: 0,
    closedMessageTimeout: 0,
    refusedConnections: 0,
    tlsHandshakeErrors: 0,
    refusedPerSource: 0,
    evictedConnections: 0,
    closedIdle: 0,
    closedHandshakeTimeout: 0,
  };
  readonly #limits: ConnectionLimits;
  /** WebSocket connections not upgraded yet (closed by `close()`, they are no flows). */
  readonly #handshakes = new Set<Socket>();
  /** Lines about what a source did: once per source per minute. */
  readonly #throttle: LogLimiter;

  constructor(options: TransportsOptions) {
    this.#o = options;
    this.#log = options.logger ?? noopLogger;
    this.#tlsClient = options.tlsClient ?? {};
    this.#limits = new ConnectionLimits({
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      maxConnections: options.maxConnections ?? 4096,
      maxPerSource: options.maxConnectionsPerSource ?? 64,
      idleMs: options.connectionLifetimeMs ?? 120_000,
      messageMs: options.partialTimeoutMs ?? 10_000,
      handshakeMs: options.wsHandshakeTimeoutMs ?? 10_000,
    });
    this.#throttle = new LogLimiter(options.clock === undefined ? {} : { clock: options.clock });
  }

  /**
   * New certificates (a renewal): TLS and WSS listeners serve them to new connections, TLS
   * connections opened from now on use `client`. Open connections keep theirs.
   */
  setSecureContext(server: SecureContextOptions, client?: ConnectionOptions): void {
    for (const s of this.#tlsServers) s.setSecureContext(server);
    if (client !== undefined) this.#tlsClient = client;
  }

  /** Connections held, WebSocket handshakes included. */
  get connectionCount(): number {
    return this.#limits.size;
  }

  /** Counts a refused connection; a warning once per source per minute. */
  #refused(refusal: ConnectionRefusal, source: string): void {
    if (refusal === 'per-source') this.counters.refusedPerSource++;
    else this.counters.refusedConnections++;
    const suppressed = this.#throttle.admit(`refused|${source}`);
    if (suppressed === undefined) return;
    this.#log.warn(
      { source, refusal, suppressed, connections: this.#limits.size },
      refusal === 'per-source'
        ? 'sip: connection refused, its source holds its connection cap'
        : 'sip: connection refused, every connection slot is held',
    );
  }

  /** Counts a connection a limit closed; slow-loris and handshakes warn once per source per minute. */
  #closedBy(reason: ConnectionCloseReason, source: string): void {
    const c = this.counters;
    if (reason === 'idle') c.closedIdle++;
    else if (reason === 'evicted') c.evictedConnections++;
    else if (reason === 'handshake-timeout') c.closedHandshakeTimeout++;
    else {
      c.closedMessageTimeout++;
      c.closedForLimits++;
    }
    if (reason === 'idle') {
      this.#log.debug({ source }, 'sip: idle connection closed');
      return;
    }
    const suppressed = this.#throttle.admit(`${reason}|${source}`);
    if (suppressed === undefined) return;
    this.#log.warn({ source, reason, suppressed }, 'sip: connection closed by a limit');
  }

  get flowCount(): number {
    return this.#flows.size;
  }

  flow(id: string): Flow | undefined {
    return this.#flows.get(id);
  }

  #deliver(buf: Buffer, from: Endpoint, datagram: boolean): void {
    let msg: SipMessage;
    try {
      msg = parseMessage(buf, { datagram, maxBytes: this.#o.maxMessageBytes ?? 65_535 });
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      this.counters.parseErrors++;
      this.#answerUnparseable(buf, e, from);
      if (this.#o.onParseError !== undefined) this.#o.onParseError(e, from);
      else this.#log.debug({ err: e.message, from }, 'sip: dropped unparseable message');
      return;
    }
    if (from.flow !== undefined && msg.isRequest) this.#aliasFromVia(msg, from);
    this.#o.onMessage(msg, from);
  }

  /** RFC 3261 §8.2: a request that does not parse is answered where it can be (never an ACK). */
  #answerUnparseable(buf: Buffer, e: SipParseError, from: Endpoint): void {
    const res = responseToUnparseable(buf, e.status, e.reasonPhrase);
    if (res === undefined) return;
    try {
      if (from.flow !== undefined) this.#flows.get(from.flow)?.write(res);
      else this.sendUdp(res, from.address, from.port);
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'sip: cannot answer an unparseable request');
    }
  }

  /** RFC 5923: a Via `alias` parameter makes the sent-by an alias of the connection. */
  #aliasFromVia(msg: SipMessage, from: Endpoint): void {
    const first = msg.values('via')[0];
    if (first === undefined || !/;\s*alias\b/i.test(first)) return;
    try {
      const via = msg.topVia();
      if (via === undefined) return;
      const port = via.port ?? (via.transport === 'TLS' ? 5061 : 5060);
      this.addAlias(from.transport as TransportName, via.host, port, from.flow!);
    } catch {
      // an unreadable Via is the transaction layer's to answer
    }
  }

  /** Binds a UDP socket (udp6 when `host` is an IPv6 address). */
  async listenUdp(host: string, port = 0): Promise<{ address: string; port: number }> {
    const v6 = bare(host).includes(':');
    const buffer = this.#o.udpBufferBytes ?? 4 * 1024 * 1024;
    const sock = createSocket({
      type: v6 ? 'udp6' : 'udp4',
      ipv6Only: v6,
      lookup: literalFirstLookup,
      // a burst while the event loop is busy waits in the kernel instead of being dropped
      // (Linux caps it at net.core.rmem_max / wmem_max)
      ...(buffer > 0 ? { recvBufferSize: buffer, sendBufferSize: buffer } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, bare(host), () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.on('error', (err) => this.#log.warn({ err: err.message }, 'sip: udp socket error'));
    sock.on('message', (buf, rinfo) => {
      if (buf.length === 0 || (buf.length <= 4 && buf.every((b) => b === 13 || b === 10))) return; // keep-alive
      this.#deliver(
        buf,
        { transport: 'UDP', address: plainAddress(rinfo.address), port: rinfo.port },
        true,
      );
    });
    if (v6) this.#udp.v6 = sock;
    else this.#udp.v4 = sock;
    const a = sock.address();
    return { address: a.address, port: a.port };
  }

  async #listen(
    server: Server,
    host: string,
    port: number,
  ): Promise<{ address: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, bare(host), () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#servers.push(server);
    const a = server.address();
    if (a === null || typeof a === 'string')
      throw new SipTransportError('SIP_LISTEN', 'no address');
    return { address: a.address, port: a.port };
  }

  listenTcp(host: string, port = 0): Promise<{ address: string; port: number }> {
    const server = createTcpServer((s) => this.#adoptStream(s, 'TCP', true));
    return this.#listen(server, host, port);
  }

  listenTls(
    host: string,
    port: number,
    tls: TlsOptions,
  ): Promise<{ address: string; port: number }> {
    const server = createTlsServer(tls, (s) => this.#adoptStream(s, 'TLS', true));
    this.#watchHandshakes(server, 'TLS');
    this.#tlsServers.push(server);
    return this.#listen(server, host, port);
  }

  /**
   * SIP over WebSocket (RFC 7118): subprotocol `sip`, one SIP message per WebSocket message.
   * With `tls` options the listener is WSS (node:https).
   */
  async listenWs(
    host: string,
    port = 0,
    tls?: TlsOptions,
  ): Promise<{ address: string; port: number }> {
    const transport = tls === undefined ? 'WS' : 'WSS';
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#o.maxMessageBytes ?? 65_535,
      handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
    });
    const refuse = (_req: unknown, res: { writeHead(code: number): { end(): void } }): void => {
      res.writeHead(426).end();
    };
    const httpServer =
      tls === undefined ? createHttpServer(refuse) : createHttpsServer(tls, refuse);
    if (tls !== undefined) {
      this.#watchHandshakes(httpServer, 'WSS');
      this.#tlsServers.push(httpServer as ReturnType<typeof createHttpsServer>);
    }
    // every connection holds a slot from its accept, and has the handshake deadline to upgrade
    const pending = new WeakMap<object, TrackedConnection>();
    httpServer.on(tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
      const source = plainAddress(socket.remoteAddress ?? '');
      const refusal = this.#limits.admit(source, true);
      if (refusal !== undefined) {
        this.#refused(refusal, source);
        socket.destroy();
        return;
      }
      const tracked = this.#limits.add(
        source,
        true,
        (reason) => {
          this.#closedBy(reason, source);
          socket.destroy();
        },
        true,
      );
      pending.set(socket, tracked);
      this.#handshakes.add(socket);
      socket.once('close', () => {
        this.#handshakes.delete(socket);
        this.#limits.remove(tracked);
      });
    });
    httpServer.on('upgrade', (req, socket, head) => {
      const tracked = pending.get(req.socket);
      if (tracked === undefined) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (ws.protocol !== 'sip') {
          ws.close(1002, 'sip subprotocol required');
          return;
        }
        // an idle WebSocket is pinged before it is closed: browsers answer, and keep nothing else
        this.#limits.established(tracked, () => {
          if (ws.readyState === ws.OPEN) ws.ping();
        });
        this.#handshakes.delete(req.socket);
        const raddr = plainAddress(req.socket.remoteAddress ?? '');
        const rport = req.socket.remotePort ?? 0;
        const laddr = plainAddress(req.socket.localAddress ?? '');
        const lport = req.socket.localPort ?? 0;
        this.#adoptWs(
          ws,
          transport,
          { address: raddr, port: rport },
          { address: laddr, port: lport },
          tracked,
        );
      });
    });
    this.#servers.push(wss);
    return this.#listen(httpServer, host, port);
  }

  /** A failed TLS handshake is counted (`tlsHandshakeErrors`) and logged at debug. */
  #watchHandshakes(
    server: { on(event: 'tlsClientError', fn: (err: Error, s: Socket) => void): unknown },
    transport: 'TLS' | 'WSS',
  ): void {
    server.on('tlsClientError', (err, s) => {
      this.counters.tlsHandshakeErrors++;
      this.#log.debug(
        {
          err: err.message,
          transport,
          from: `${plainAddress(s.remoteAddress ?? '')}:${s.remotePort}`,
        },
        'sip: TLS handshake failed',
      );
    });
  }

  #register(flow: StreamFlow): void {
    this.#flows.set(flow.id, flow);
    this.#byRemote.set(`${flow.transport}|${flow.remote.address}|${flow.remote.port}`, flow.id);
  }

  #unregister(flow: StreamFlow): void {
    this.#flows.delete(flow.id);
    for (const [k, v] of this.#byRemote) if (v === flow.id) this.#byRemote.delete(k);
  }

  /** Makes `transport|address|port` an alias of a flow (RFC 5923 connection reuse). */
  addAlias(transport: TransportName, address: string, port: number, flowId: string): void {
    if (this.#flows.has(flowId))
      this.#byRemote.set(`${transport}|${bare(address)}|${port}`, flowId);
  }

  #adoptStream(s: Socket, transport: 'TCP' | 'TLS', inbound: boolean): StreamFlow | undefined {
    const source = plainAddress(s.remoteAddress ?? '');
    const refusal = this.#limits.admit(source, inbound);
    if (refusal !== undefined) {
      if (inbound) this.#refused(refusal, source);
      s.destroy();
      return undefined;
    }
    const tracked = this.#limits.add(source, inbound, (reason) => {
      this.#closedBy(reason, source);
      s.destroy();
    });
    const id = `${transport.toLowerCase()}-${++this.#seq}`;
    const flow: StreamFlow = {
      id,
      transport,
      remote: { address: source, port: s.remotePort ?? 0 },
      local: { address: plainAddress(s.localAddress ?? ''), port: s.localPort ?? 0 },
      write: (d) => {
        this.#limits.active(tracked, false);
        s.write(d);
      },
      close: () => s.destroy(),
    };
    this.#register(flow);
    const framer = new StreamFramer({
      maxHeaderBytes: this.#o.maxHeaderBytes ?? 16_384,
      maxBodyBytes: this.#o.maxMessageBytes ?? 65_535,
    });
    const from: Endpoint = {
      transport,
      address: flow.remote.address,
      port: flow.remote.port,
      flow: id,
    };
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => {
      let frames: ReturnType<StreamFramer['push']>;
      try {
        frames = framer.push(chunk);
      } catch (e) {
        this.counters.closedForLimits++;
        this.#log.debug({ err: (e as Error).message, flow: id }, 'sip: closing stream');
        s.destroy();
        return;
      }
      let completed = false;
      for (const f of frames) {
        if (f.type === 'ping') s.write('\r\n');
        else if (f.type === 'message') this.#deliver(f.data, from, false);
        completed = true;
      }
      if (completed) this.#limits.active(tracked);
      this.#limits.receiving(tracked, framer.buffered > 0 && !framer.pendingCrlf, completed);
    });
    s.on('error', (err) => this.#log.debug({ err: err.message, flow: id }, 'sip: stream error'));
    s.on('close', () => {
      this.#limits.remove(tracked);
      this.#unregister(flow);
    });
    return flow;
  }

  #adoptWs(
    ws: WebSocket,
    transport: 'WS' | 'WSS',
    remote: Flow['remote'],
    local: Flow['local'],
    tracked: TrackedConnection,
  ): StreamFlow {
    const id = `${transport.toLowerCase()}-${++this.#seq}`;
    const flow: StreamFlow = {
      id,
      transport,
      remote,
      local,
      write: (d) => {
        this.#limits.active(tracked, false);
        ws.send(d, { binary: false });
      },
      close: () => ws.terminate(),
    };
    this.#register(flow);
    const from: Endpoint = { transport, address: remote.address, port: remote.port, flow: id };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      void isBinary;
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as unknown as ArrayBuffer);
      this.#limits.active(tracked);
      if (buf.length <= 4 && buf.every((b) => b === 13 || b === 10)) return;
      this.#deliver(buf, from, true);
    });
    ws.on('pong', () => this.#limits.active(tracked));
    ws.on('ping', () => this.#limits.active(tracked));
    ws.on('error', (err) => this.#log.debug({ err: err.message, flow: id }, 'sip: ws error'));
    ws.on('close', () => this.#unregister(flow));
    return flow;
  }

  /** Opens (or reuses) a TCP/TLS connection to a remote address; resolves to its flow id. */
  async connect(
    transport: 'TCP' | 'TLS',
    address: string,
    port: number,
    tls: ConnectionOptions = this.#tlsClient,
  ): Promise<string> {
    const key = `${transport}|${bare(address)}|${port}`;
    const existing = this.#byRemote.get(key);
    if (existing !== undefined && this.#flows.has(existing)) return existing;
    const s: Socket =
      transport === 'TCP'
        ? tcpConnect({ host: bare(address), port })
        : tlsConnect({ host: bare(address), port, ...tls });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.once(transport === 'TCP' ? 'connect' : 'secureConnect', () => {
        s.off('error', reject);
        resolve();
      });
    });
    const flow = this.#adoptStream(s, transport, false);
    if (flow === undefined)
      throw new SipTransportError('SIP_TOO_MANY_CONNECTIONS', 'connection limit reached');
    this.#byRemote.set(key, flow.id);
    return flow.id;
  }

  /**
   * Sends a message: down `to.flow` when given (fails if that flow is gone), else over an
   * existing connection to the address, else UDP, or a new TCP/TLS connection.
   */
  async send(msg: SipMessage | Buffer, to: Endpoint): Promise<void> {
    const data = Buffer.isBuffer(msg) ? msg : msg.toBuffer();
    if (to.flow !== undefined) {
      const f = this.#flows.get(to.flow);
      if (f === undefined)
        throw new SipTransportError('SIP_FLOW_GONE', `flow ${to.flow} is closed`);
      f.write(data);
      return;
    }
    const t = to.transport.toUpperCase() as TransportName;
    const existing = this.#byRemote.get(`${t}|${bare(to.address)}|${to.port}`);
    if (existing !== undefined) {
      const f = this.#flows.get(existing);
      if (f !== undefined) {
        f.write(data);
        return;
      }
    }
    if (t === 'UDP') {
      this.sendUdp(data, to.address, to.port);
      return;
    }
    if (t === 'TCP' || t === 'TLS') {
      const id = await this.connect(t, to.address, to.port);
      this.#flows.get(id)?.write(data);
      return;
    }
    throw new SipTransportError('SIP_NO_ROUTE', `no ${t} connection to ${to.address}:${to.port}`);
  }

  /** Synchronous UDP send (the stateless fast path). */
  sendUdp(data: Buffer, address: string, port: number): void {
    const host = bare(address);
    const sock = host.includes(':') ? this.#udp.v6 : this.#udp.v4;
    if (sock === undefined) throw new SipTransportError('SIP_NO_UDP', `no UDP socket for ${host}`);
    sock.send(data, port, host);
  }

  /** Closes every listener and connection. Idempotent. */
  async close(): Promise<void> {
    this.#limits.clear();
    for (const s of this.#handshakes) s.destroy();
    this.#handshakes.clear();
    for (const f of [...this.#flows.values()]) f.close();
    this.#flows.clear();
    this.#byRemote.clear();
    for (const s of this.#servers.splice(0)) {
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    for (const k of ['v4', 'v6'] as const) {
      const sock = this.#udp[k];
      if (sock !== undefined) {
        delete this.#udp[k];
        await new Promise<void>((resolve) => sock.close(() => resolve()));
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
