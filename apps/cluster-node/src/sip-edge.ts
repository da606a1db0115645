/**
 * The node's SIP edge: listeners (UDP, TCP, TLS, WebSocket and WSS from @sipedge/sip) grouped in
 * interfaces — the node's own addresses, and the floating service address while this node is
 * active for its sharing tag — and one RFC 3261 transaction layer over them; requests go to a
 * handler (the stateful proxy of router.ts). `edgeNetwork` is what that proxy sees of it.
 *
 * Everything sent in answer to a message leaves by the interface it came in on, so a UA behind
 * NAT that talks to the service address always sees the service address.
 */

import { type Logger, LogLimiter, type TlsMaterial } from '@sipedge/core';
import type { Counter, StatisticsRegistry } from '@sipedge/mi';
import {
  createResponse,
  type Endpoint,
  formatVia,
  newBranch,
  type ProxyNetwork,
  type ServerTransaction,
  type SipMessage,
  SipTransports,
  TransactionLayer,
  type TransportCounters,
} from '@sipedge/sip';
import type { BadInput } from './bad-input.js';
import type { NodeConfig } from './config.js';
import { parseAddress } from './config.js';
import type { PikeGuard } from './pike.js';

/** `sip:internal_errors`, counted by the edge (drops) and the router (routing failures). */
export const INTERNAL_ERRORS_HELP =
  'SIP messages that failed on an internal error (dropped, or answered 500)';

export interface SipListenerInfo {
  readonly proto: 'udp' | 'tcp' | 'ws' | 'tls' | 'wss';
  readonly address: string;
  readonly port: number;
}

/** A set of listeners that share one identity: the node's own, or the service address. */
export interface EdgeInterface {
  readonly name: 'node' | 'service';
  readonly transports: SipTransports;
  readonly listeners: SipListenerInfo[];
}

/** Where a message came from (or goes to), and by which of our interfaces. */
export interface Hop extends Endpoint {
  readonly iface: EdgeInterface;
}

/** What handles the edge's messages (the stateful proxy of router.ts). */
export interface EdgeHandler {
  onRequest(req: SipMessage, tx: ServerTransaction | undefined, from: Hop): void;
  onStrayResponse(res: SipMessage, from: Hop): void;
  /** Requests answered without a transaction (the registrar's REGISTERs); true = handled. */
  onStateless?(req: SipMessage, from: Hop): boolean;
}

/** What the edge is given: the logger and statistics, and its guards against bad senders. */
export interface EdgeDeps {
  readonly logger: Logger;
  readonly stats: StatisticsRegistry;
  readonly tls?: TlsMaterial | undefined;
  /** Flood protection (sip.pike): requests of a blocked source never reach the router. */
  readonly pike?: PikeGuard;
  /** Counts and logs what does not parse, by reason. */
  readonly badInput?: BadInput;
}

const hostText = (h: string) => (h.includes(':') ? `[${h}]` : h);

export class SipEdge {
  readonly node: EdgeInterface;
  #service: EdgeInterface | undefined;
  readonly layer: TransactionLayer;
  readonly #log: Logger;
  readonly #config: NodeConfig['sip'];
  #handler: EdgeHandler | undefined;
  /** Requests received by interface and transport, shown by listener and transport. */
  readonly #received = new Map<string, { listener: string; transport: string; n: number }>();
  readonly #rejected: Counter;
  readonly #sendErrors: Counter;
  readonly #internalErrors: Counter;
  readonly #deps: EdgeDeps;
  #tls: TlsMaterial | undefined;
  /** Internal errors a peer's message can set off: logged once per minute. */
  readonly #throttle = new LogLimiter();

  /** `deps.tls`: the certificate of tls/wss listeners and the options of outbound TLS. */
  constructor(config: NodeConfig['sip'], deps: EdgeDeps) {
    this.#config = config;
    this.#log = deps.logger;
    this.#deps = deps;
    this.#tls = deps.tls;
    this.node = this.#makeInterface('node');
    this.layer = new TransactionLayer({
      send: (msg, to) => this.send(msg, to as Hop),
      maxServerTransactions: config.max_transactions,
      ...(deps.badInput === undefined ? {} : { onBadInput: deps.badInput.record }),
      onRequest: (req, tx, from) => {
        this.#countRequest(from as Hop);
        if (this.#handler === undefined) {
          if (tx !== undefined) this.#rejected.inc();
          return;
        }
        this.#handler.onRequest(req, tx, from as Hop);
      },
      onStrayResponse: (res, from) => this.#handler?.onStrayResponse(res, from as Hop),
    });
    const s = deps.stats;
    s.labelledCounter('sip', 'requests_received', {
      help: 'SIP requests received',
      labels: ['listener', 'transport'],
      maxSeries: 64,
      series: () => [...this.#received.values()].map((r) => [[r.listener, r.transport], r.n]),
    });
    this.#rejected = s.counter('sip', 'requests_unhandled', 'SIP requests with no handler yet');
    this.#sendErrors = s.counter('sip', 'send_errors', 'SIP messages that could not be sent');
    this.#internalErrors = s.counter('sip', 'internal_errors', INTERNAL_ERRORS_HELP);
    const counters = () => [this.node, this.#service].filter((i) => i !== undefined);
    const sum = (k: keyof TransportCounters) => () =>
      counters().reduce((n, i) => n + i.transports.counters[k], 0);
    const counted = (name: string, help: string, read: () => number): void => {
      s.counter('sip', name, { help, read });
    };
    const transportCounters: [string, keyof TransportCounters, string][] = [
      ['parse_errors', 'parseErrors', 'SIP messages dropped: they did not parse'],
      ['tls_handshake_errors', 'tlsHandshakeErrors', 'Inbound SIP TLS handshakes that failed'],
      [
        'closed_for_limits',
        'closedForLimits',
        'SIP stream connections closed for a framing limit or the message deadline',
      ],
      [
        'refused_connections',
        'refusedConnections',
        'SIP connections refused: every slot held and none could be evicted',
      ],
      [
        'refused_connections_per_source',
        'refusedPerSource',
        'SIP connections refused: their source held tcp_accept_iplimit',
      ],
      [
        'evicted_connections',
        'evictedConnections',
        'SIP connections closed to make room for a newcomer at max_connections',
      ],
      [
        'closed_idle',
        'closedIdle',
        'SIP connections closed after their lifetime without a message',
      ],
      [
        'closed_message_timeout',
        'closedMessageTimeout',
        'SIP stream connections closed by the message deadline (slow senders)',
      ],
      [
        'closed_handshake_timeout',
        'closedHandshakeTimeout',
        'SIP WebSocket connections closed for not upgrading in time',
      ],
    ];
    for (const [name, key, help] of transportCounters) counted(name, help, sum(key));
    s.gauge('sip', 'flows', {
      help: 'SIP stream connections open (TCP, TLS, WebSocket)',
      read: () => counters().reduce((n, i) => n + i.transports.flowCount, 0),
    });
    s.gauge('sip', 'connections', {
      help: 'SIP connections held, WebSocket handshakes included',
      read: () => counters().reduce((n, i) => n + i.transports.connectionCount, 0),
    });
    s.gauge('sip', 'server_transactions', {
      help: 'SIP server transactions alive',
      read: () => this.layer.serverCount,
    });
    s.gauge('sip', 'client_transactions', {
      help: 'SIP client transactions alive',
      read: () => this.layer.clientCount,
    });
    const lc = this.layer.counters;
    counted(
      'bad_requests',
      'SIP requests answered 400: they did not validate',
      () => lc.badRequests,
    );
    counted(
      'overload_503',
      'SIP requests answered 503: max_transactions reached',
      () => lc.overloaded,
    );
    counted(
      'retransmissions_absorbed',
      'SIP retransmissions answered by their transaction, not passed on',
      () => lc.absorbed,
    );
  }

  #makeInterface(name: 'node' | 'service'): EdgeInterface {
    const iface: EdgeInterface = {
      name,
      listeners: [],
      transports: new SipTransports({
        onMessage: (msg, from) => {
          // an explicit literal: `{ ...from, iface }` costs V8 a slow object clone per message
          const hop: Hop =
            from.flow === undefined
              ? { transport: from.transport, address: from.address, port: from.port, iface }
              : {
                  transport: from.transport,
                  address: from.address,
                  port: from.port,
                  flow: from.flow,
                  iface,
                };
          if (msg.isRequest && this.#deps.pike !== undefined) {
            const action = this.#deps.pike.check(from.address);
            if (action !== 'allowed') {
              if (action === 'reply') this.#unavailable(msg, hop, this.#deps.pike.retryAfter);
              return;
            }
          }
          // nothing a peer sends may take the process down: a routing bug is counted, logged
          // and the message dropped (the sender retransmits or times out)
          try {
            if (msg.isRequest && this.#handler?.onStateless?.(msg, hop) === true) {
              this.#countRequest(hop);
              return;
            }
            this.layer.receive(msg, hop);
          } catch (err) {
            this.#internalErrors.inc();
            const suppressed = this.#throttle.admit('internal');
            if (suppressed === undefined) return;
            this.#log.error(
              {
                err: (err as Error).message,
                from: `${from.transport}:${from.address}:${from.port}`,
                suppressed,
              },
              'SIP message dropped: internal error',
            );
          }
        },
        ...(this.#deps.badInput === undefined ? {} : { onParseError: this.#deps.badInput.record }),
        logger: this.#deps.logger,
        maxConnections: this.#config.max_connections,
        maxConnectionsPerSource: this.#config.tcp_accept_iplimit,
        connectionLifetimeMs: this.#config.tcp_connection_lifetime * 1000,
        partialTimeoutMs: this.#config.tcp_msg_read_timeout * 1000,
        wsHandshakeTimeoutMs: this.#config.ws_handshake_timeout,
        maxMessageBytes: this.#config.max_message_bytes,
        ...(this.#tls === undefined ? {} : { tlsClient: this.#tls.client }),
      }),
    };
    return iface;
  }

  /** A 503 for a request refused before routing (never for an ACK, which has no answer). */
  #unavailable(req: SipMessage, to: Hop, retryAfter: number): void {
    if (req.method === 'ACK') return;
    try {
      this.send(
        createResponse(req, 503, 'Service Unavailable', {
          toTag: 'pk',
          headers: [['Retry-After', String(retryAfter)]],
        }),
        to,
      );
    } catch {
      // not even the rows a response copies are readable: the request is dropped
    }
  }

  #countRequest(from: Hop): void {
    const key = `${from.iface.name} ${from.transport}`;
    let slot = this.#received.get(key);
    if (slot === undefined) {
      const l = this.listenerFor(from.iface, from.transport);
      const listener = l === undefined ? 'unknown' : `${hostText(l.address)}:${l.port}`;
      slot = { listener, transport: from.transport.toLowerCase(), n: 0 };
      this.#received.set(key, slot);
    }
    slot.n++;
  }

  /** The stateful proxy. */
  setHandler(handler: EdgeHandler | undefined): void {
    this.#handler = handler;
  }

  get listeners(): readonly SipListenerInfo[] {
    return this.node.listeners;
  }

  get service(): EdgeInterface | undefined {
    return this.#service;
  }

  get interfaces(): EdgeInterface[] {
    return this.#service === undefined ? [this.node] : [this.node, this.#service];
  }

  async start(): Promise<readonly SipListenerInfo[]> {
    for (const l of this.#config.listeners) {
      await this.#listen(this.node, l.proto, l.address);
    }
    return this.node.listeners;
  }

  async #listen(iface: EdgeInterface, proto: SipListenerInfo['proto'], address: string) {
    const { host, port } = parseAddress(address);
    const t = iface.transports;
    const bound =
      proto === 'udp'
        ? await t.listenUdp(host, port)
        : proto === 'tcp'
          ? await t.listenTcp(host, port)
          : proto === 'ws'
            ? await t.listenWs(host, port)
            : proto === 'tls'
              ? await t.listenTls(host, port, this.#serverTls())
              : await t.listenWs(host, port, this.#serverTls());
    iface.listeners.push({ proto, address: bound.address, port: bound.port });
    this.#log.info(
      { iface: iface.name, proto, address: bound.address, port: bound.port },
      'SIP listening',
    );
  }

  #serverTls(): NonNullable<TlsMaterial['server']> {
    if (this.#tls === undefined) throw new Error('a tls/wss listener without TLS settings');
    return this.#tls.server;
  }

  /** Renewed certificates (SIGHUP): new TLS/WSS connections, both ways, use them. */
  setTls(tls: TlsMaterial): void {
    this.#tls = tls;
    for (const i of this.interfaces) i.transports.setSecureContext(tls.server, tls.client);
  }

  /** Binds the service address (UDP and TCP): this node became active for its tag. */
  async bindService(address: string): Promise<void> {
    if (this.#service !== undefined) return;
    const iface = this.#makeInterface('service');
    try {
      await this.#listen(iface, 'udp', address);
      await this.#listen(iface, 'tcp', address);
    } catch (err) {
      await iface.transports.close();
      throw err;
    }
    this.#service = iface;
  }

  /** Releases the service address: this node went backup. */
  async releaseService(): Promise<void> {
    const s = this.#service;
    if (s === undefined) return;
    this.#service = undefined;
    await s.transports.close();
    this.#log.info({ iface: 'service' }, 'SIP service address released');
  }

  /**
   * Resolves true when `busy()` says nothing is in flight (by default: no transaction at all,
   * including those waiting out their absorb timers), false after `timeoutMs`.
   */
  async idle(
    timeoutMs: number,
    busy: () => number = () => this.layer.serverCount + this.layer.clientCount,
  ): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (busy() > 0) {
      if (Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  async stop(): Promise<void> {
    this.layer.destroy();
    await this.releaseService();
    await this.node.transports.close();
  }

  /** Sends by the hop's interface; a failure is counted and logged, never thrown. */
  send(msg: SipMessage | Buffer, to: Hop): void {
    to.iface.transports.send(msg, to).catch((err: unknown) => {
      this.#sendErrors.inc();
      this.#log.debug(
        { err: (err as Error).message, to: `${to.transport}:${to.address}:${to.port}` },
        'SIP send failed',
      );
    });
  }

  /** The listener of an interface for a transport (UDP for WS-less lookups). */
  listenerFor(iface: EdgeInterface, transport: string): SipListenerInfo | undefined {
    const t = transport.toLowerCase();
    const want = t === 'udp' || t === 'tls' || t === 'ws' || t === 'wss' ? t : 'tcp';
    return (
      iface.listeners.find((l) => l.proto === want) ??
      (want === 'wss' ? iface.listeners.find((l) => l.proto === 'ws') : undefined) ??
      (want === 'tls' ? iface.listeners.find((l) => l.proto === 'tcp') : undefined) ??
      iface.listeners.find((l) => l.proto === 'udp') ??
      iface.listeners[0]
    );
  }

  /** `host:port` of an interface for a transport. */
  sentBy(iface: EdgeInterface, transport: string): { host: string; port: number } {
    const l = this.listenerFor(iface, transport);
    return { host: l?.address ?? '127.0.0.1', port: l?.port ?? 5060 };
  }

  /** A SIP URI naming this interface (Record-Route, Path), with `lr`. */
  uriFor(iface: EdgeInterface, transport: string, params = ''): string {
    const l = this.listenerFor(iface, transport);
    const host = hostText(l?.address ?? '127.0.0.1');
    const port = l?.port ?? 5060;
    const tp = l === undefined || l.proto === 'udp' ? '' : `;transport=${l.proto}`;
    return `sip:${host}:${port}${tp};lr${params}`;
  }

  /** A Via for a request this node sends from `iface` over `transport`. */
  viaFor(iface: EdgeInterface, transport: string, branch = newBranch()): string {
    const { host, port } = this.sentBy(iface, transport);
    return formatVia(transport, host, port, branch, true);
  }

  /** Does a host:port name one of our bound listeners? */
  isLocalAddress(host: string, port: number | null | undefined): boolean {
    const h = host.startsWith('[') ? host.slice(1, -1) : host;
    for (const i of this.interfaces) {
      for (const l of i.listeners) {
        if (l.address === h && l.port === (port ?? 5060)) return true;
      }
    }
    return false;
  }
}

/** The edge as the stateful proxy's network: hops are interface + transport + address. */
export function edgeNetwork(edge: SipEdge): ProxyNetwork<Hop> {
  return {
    transactions: edge.layer,
    send: (msg, to) => edge.send(msg, to),
    responseHop: (by, to) => ({
      transport: to.transport,
      address: to.address,
      port: to.port,
      iface: by.iface,
    }),
    viaFor: (hop, branch) => edge.viaFor(hop.iface, hop.transport, branch),
    recordRouteUri: (hop, params) => edge.uriFor(hop.iface, hop.transport, params),
    sameInterface: (a, b) =>
      a.iface === b.iface && a.transport.toUpperCase() === b.transport.toUpperCase(),
    isLocalAddress: (host, port) => edge.isLocalAddress(host, port),
  };
}
