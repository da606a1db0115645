import { type Clock, systemClock } from '@sipedge/core';
import { SipParseError } from '../errors.js';
import { createResponse } from '../message/create-message.js';
import type { SipMessage } from '../message/message.js';
import { validateMessage } from '../message/validate-message.js';
import { cancelTargetKey, clientTransactionKey, serverTransactionKey } from './matching.js';
import {
  ClientTransaction,
  DEFAULT_TIMERS,
  ServerTransaction,
  type TimerValues,
} from './transaction.js';

/** Where a message came from or goes to. `flow` names a connection (see transports). */
export interface Endpoint {
  readonly transport: string;
  readonly address: string;
  readonly port: number;
  readonly flow?: string;
}

export interface TransactionLayerOptions {
  readonly send: (msg: SipMessage, to: Endpoint) => void;
  readonly clock?: Clock;
  readonly timers?: TimerValues;
  /** A new request (tx undefined for an ACK that matched no transaction, i.e. ACK for 2xx). */
  readonly onRequest: (req: SipMessage, tx: ServerTransaction | undefined, from: Endpoint) => void;
  /** A response that matched no client transaction (e.g. a 2xx retransmission). */
  readonly onStrayResponse?: (res: SipMessage, from: Endpoint) => void;
  /** Most live server transactions; new requests beyond it are answered 503 (default 100,000). */
  readonly maxServerTransactions?: number;
  /** Each message that failed validation (a request was answered with the error's status). */
  readonly onBadInput?: (err: SipParseError, from: Endpoint) => void;
}

export interface RequestCallbacks {
  readonly onResponse?: (res: SipMessage) => void;
  readonly onTimeout?: () => void;
  readonly onTerminated?: () => void;
}

function reliable(transport: string): boolean {
  const t = transport.toUpperCase();
  return t !== 'UDP';
}

/**
 * Matches incoming messages to transactions (RFC 3261 §17.1.3, §17.2.3, with RFC 2543
 * fallback), creates server transactions for new requests, and answers malformed requests with
 * a 400 carrying the parse reason. Counters are public for metrics.
 */
export class TransactionLayer {
  readonly #o: TransactionLayerOptions;
  readonly #clock: Clock;
  readonly #timers: TimerValues;
  readonly #servers = new Map<string, ServerTransaction>();
  readonly #clients = new Map<string, ClientTransaction>();
  readonly counters = { badRequests: 0, droppedResponses: 0, absorbed: 0, overloaded: 0 };

  constructor(options: TransactionLayerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#timers = options.timers ?? DEFAULT_TIMERS;
  }

  get serverCount(): number {
    return this.#servers.size;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** Feeds a parsed message from a transport. */
  receive(msg: SipMessage, from: Endpoint): void {
    try {
      validateMessage(msg);
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      this.#o.onBadInput?.(e, from);
      if (msg.isRequest && msg.method !== 'ACK') {
        this.counters.badRequests++;
        try {
          this.#o.send(createResponse(msg, e.status, e.reasonPhrase), from);
        } catch {
          // not even the headers needed for a response are readable: drop
        }
      } else this.counters.droppedResponses++;
      return;
    }
    if (msg.isRequest) this.#request(msg, from);
    else this.#response(msg, from);
  }

  #request(req: SipMessage, from: Endpoint): void {
    const key = serverTransactionKey(req);
    const tx = this.#servers.get(key);
    if (req.method === 'ACK') {
      if (tx?.isInvite) {
        const last = tx.lastResponse();
        const toTagOk =
          !key.startsWith('2543') || last === undefined || last.toTag() === req.toTag();
        if (last !== undefined && last.status >= 300 && toTagOk) {
          this.counters.absorbed++;
          tx.receiveRequest(req);
          return;
        }
      }
      this.#o.onRequest(req, undefined, from);
      return;
    }
    if (tx !== undefined) {
      this.counters.absorbed++;
      tx.receiveRequest(req);
      return;
    }
    if (this.#servers.size >= (this.#o.maxServerTransactions ?? 100_000)) {
      this.counters.overloaded++;
      this.#o.send(
        createResponse(req, 503, 'Service Unavailable', { headers: [['Retry-After', '5']] }),
        from,
      );
      return;
    }
    const stx = new ServerTransaction({
      request: req,
      reliable: reliable(from.transport),
      clock: this.#clock,
      timers: this.#timers,
      send: (res) => this.#o.send(res, from),
      onTerminated: () => {
        if (this.#servers.get(key) === stx) this.#servers.delete(key);
      },
    });
    this.#servers.set(key, stx);
    this.#o.onRequest(req, stx, from);
  }

  #response(res: SipMessage, from: Endpoint): void {
    const tx = this.#clients.get(clientTransactionKey(res));
    if (tx === undefined) {
      this.#o.onStrayResponse?.(res, from);
      return;
    }
    tx.receiveResponse(res);
  }

  /** The INVITE server transaction a CANCEL targets (RFC 3261 §9.2), if it is still alive. */
  findInviteForCancel(cancel: SipMessage): ServerTransaction | undefined {
    const tx = this.#servers.get(cancelTargetKey(cancel));
    return tx?.isInvite ? tx : undefined;
  }

  /** Starts a client transaction; the request's top Via must carry a z9hG4bK branch. */
  request(req: SipMessage, to: Endpoint, callbacks: RequestCallbacks = {}): ClientTransaction {
    const key = clientTransactionKey(req);
    const tx = new ClientTransaction({
      request: req,
      reliable: reliable(to.transport),
      clock: this.#clock,
      timers: this.#timers,
      send: (m) => this.#o.send(m, to),
      ...(callbacks.onResponse ? { onResponse: callbacks.onResponse } : {}),
      ...(callbacks.onTimeout ? { onTimeout: callbacks.onTimeout } : {}),
      onTerminated: () => {
        if (this.#clients.get(key) === tx) this.#clients.delete(key);
        callbacks.onTerminated?.();
      },
    });
    this.#clients.set(key, tx);
    return tx.start();
  }

  /** Ends every transaction and its timers. */
  destroy(): void {
    for (const t of [...this.#servers.values()]) t.destroy();
    for (const t of [...this.#clients.values()]) t.destroy();
  }
}
