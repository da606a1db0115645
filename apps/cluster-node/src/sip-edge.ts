/**
 * The node's SIP listeners (UDP, TCP, WebSocket from @sipedge/sip) and THE SEAM for the
 * registrar/proxy: until `apps/cluster-node` part 2 plugs a `SipRequestHandler` in, every
 * request except ACK is answered `501 Not Implemented` statelessly, responses are dropped,
 * and each is counted. This is a placeholder, not the SIP edge of issue 9.
 */

import type { Counter, StatisticsRegistry } from '@sipedge/mi';
import { createResponse, type Endpoint, type SipMessage, SipTransports } from '@sipedge/sip';
import type { NodeConfig } from './config.js';
import { parseAddress } from './config.js';

export interface EdgeLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * The registrar/proxy seam: return true when the request was handled. Not handled requests
 * get the placeholder 501.
 */
export type SipRequestHandler = (msg: SipMessage, from: Endpoint, edge: SipEdge) => boolean;

export interface SipListenerInfo {
  readonly proto: 'udp' | 'tcp' | 'ws';
  readonly address: string;
  readonly port: number;
}

export class SipEdge {
  readonly transports: SipTransports;
  readonly #log: EdgeLogger;
  readonly #config: NodeConfig['sip'];
  #handler: SipRequestHandler | undefined;
  #listeners: SipListenerInfo[] = [];
  readonly #requests: Counter;
  readonly #notImplemented: Counter;
  readonly #responsesDropped: Counter;
  readonly #acksDropped: Counter;
  readonly #sendErrors: Counter;

  constructor(config: NodeConfig['sip'], deps: { logger: EdgeLogger; stats: StatisticsRegistry }) {
    this.#config = config;
    this.#log = deps.logger;
    this.transports = new SipTransports({
      onMessage: (msg, from) => this.#onMessage(msg, from),
      logger: deps.logger,
      maxConnections: config.max_connections,
      maxMessageBytes: config.max_message_bytes,
    });
    const s = deps.stats;
    this.#requests = s.counter('sip', 'requests_received');
    this.#notImplemented = s.counter('sip', 'replies_501');
    this.#responsesDropped = s.counter('sip', 'responses_dropped');
    this.#acksDropped = s.counter('sip', 'acks_dropped');
    this.#sendErrors = s.counter('sip', 'send_errors');
    const c = this.transports.counters;
    s.gauge('sip', 'parse_errors', () => c.parseErrors);
    s.gauge('sip', 'closed_for_limits', () => c.closedForLimits);
    s.gauge('sip', 'refused_connections', () => c.refusedConnections);
    s.gauge('sip', 'flows', () => this.transports.flowCount);
  }

  /** Plug the registrar/proxy in (part 2 of issue 9). */
  setRequestHandler(handler: SipRequestHandler | undefined): void {
    this.#handler = handler;
  }

  get listeners(): readonly SipListenerInfo[] {
    return this.#listeners;
  }

  async start(): Promise<readonly SipListenerInfo[]> {
    for (const l of this.#config.listeners) {
      const { host, port } = parseAddress(l.address);
      const bound =
        l.proto === 'udp'
          ? await this.transports.listenUdp(host, port)
          : l.proto === 'tcp'
            ? await this.transports.listenTcp(host, port)
            : await this.transports.listenWs(host, port);
      this.#listeners.push({ proto: l.proto, address: bound.address, port: bound.port });
      this.#log.info({ proto: l.proto, address: bound.address, port: bound.port }, 'SIP listening');
    }
    return this.#listeners;
  }

  async stop(): Promise<void> {
    await this.transports.close();
  }

  #onMessage(msg: SipMessage, from: Endpoint): void {
    if (!msg.isRequest) {
      this.#responsesDropped.inc();
      return;
    }
    this.#requests.inc();
    if (this.#handler?.(msg, from, this) === true) return;
    if (msg.method === 'ACK') {
      this.#acksDropped.inc();
      return;
    }
    // PLACEHOLDER: no registrar or proxy yet (issue 9 part 2).
    this.#notImplemented.inc();
    let reply: SipMessage;
    try {
      reply = createResponse(msg, 501, 'Not Implemented');
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'cannot answer request');
      this.#sendErrors.inc();
      return;
    }
    this.transports.send(reply, from).catch((err: unknown) => {
      this.#sendErrors.inc();
      this.#log.debug({ err: (err as Error).message }, 'SIP send failed');
    });
  }
}
