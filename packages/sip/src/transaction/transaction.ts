import type { Clock } from '@sipedge/core';
import { createRequest } from '../message/create-message.js';
import type { SipMessage } from '../message/message.js';

/** RFC 3261 §17.1.1.1 timer values in milliseconds. */
export interface TimerValues {
  readonly T1: number;
  readonly T2: number;
  readonly T4: number;
}

export const DEFAULT_TIMERS: TimerValues = { T1: 500, T2: 4000, T4: 5000 };

export type ClientState = 'calling' | 'trying' | 'proceeding' | 'completed' | 'terminated';
export type ServerState = 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'terminated';

export interface ClientTransactionOptions {
  readonly request: SipMessage;
  /** Sends a message toward the transaction's next hop. */
  readonly send: (msg: SipMessage) => void;
  /** Reliable transport (TCP, TLS, WS): no retransmissions, zero-length wait timers. */
  readonly reliable: boolean;
  readonly clock: Clock;
  readonly timers?: TimerValues;
  /** Every response passed to the TU (retransmissions of a final response are absorbed). */
  readonly onResponse?: (res: SipMessage) => void;
  /** Timer B or F fired: the TU should act as on a 408. */
  readonly onTimeout?: () => void;
  readonly onTerminated?: () => void;
}

/** Builds the ACK for a non-2xx final response (RFC 3261 §17.1.1.3). */
export function buildAckForNon2xx(invite: SipMessage, response: SipMessage): SipMessage {
  const headers: Array<[string, string]> = [];
  const topVia = invite.values('via')[0];
  if (topVia !== undefined) headers.push(['Via', topVia]);
  for (const r of invite.rows('route')) headers.push([r.name, r.value]);
  headers.push(['Max-Forwards', '70']);
  headers.push(['From', invite.header('from') ?? '']);
  headers.push(['To', response.header('to') ?? '']);
  headers.push(['Call-ID', invite.callId()]);
  headers.push(['CSeq', `${invite.cseq().seq} ACK`]);
  return createRequest({ method: 'ACK', uri: invite.requestUri, headers });
}

/** RFC 3261 §17.1.1 (INVITE) and §17.1.2 (non-INVITE) client transactions. */
export class ClientTransaction {
  readonly request: SipMessage;
  readonly isInvite: boolean;
  readonly branch: string;
  #state: ClientState;
  readonly #o: ClientTransactionOptions;
  readonly #t: TimerValues;
  #retransmit: unknown;
  #timeout: unknown;
  #wait: unknown;
  #interval: number;
  #ack: SipMessage | undefined;

  constructor(options: ClientTransactionOptions) {
    this.#o = options;
    this.#t = options.timers ?? DEFAULT_TIMERS;
    this.request = options.request;
    this.isInvite = options.request.method === 'INVITE';
    this.branch = options.request.topVia()?.branch ?? '';
    this.#state = this.isInvite ? 'calling' : 'trying';
    this.#interval = this.#t.T1;
  }

  get state(): ClientState {
    return this.#state;
  }

  /** Sends the request and starts timers A/B (INVITE) or E/F (non-INVITE). */
  start(): this {
    this.#o.send(this.request);
    const { clock } = this.#o;
    if (!this.#o.reliable)
      this.#retransmit = clock.setTimeout(() => this.#onRetransmit(), this.#interval);
    this.#timeout = clock.setTimeout(() => this.#onTimeout(), 64 * this.#t.T1);
    return this;
  }

  #onRetransmit(): void {
    const s = this.#state;
    if (s === 'calling') {
      this.#o.send(this.request);
      this.#interval *= 2; // timer A doubles without a cap
    } else if (s === 'trying' || s === 'proceeding') {
      this.#o.send(this.request);
      // timer E doubles up to T2 in Trying, and is T2 in Proceeding
      this.#interval = s === 'trying' ? Math.min(2 * this.#interval, this.#t.T2) : this.#t.T2;
    } else return;
    this.#retransmit = this.#o.clock.setTimeout(() => this.#onRetransmit(), this.#interval);
  }

  #onTimeout(): void {
    // timer B fires only in Calling; timer F in Trying or Proceeding
    if (
      this.#state === 'calling' ||
      (!this.isInvite && (this.#state === 'trying' || this.#state === 'proceeding'))
    ) {
      this.#terminate();
      this.#o.onTimeout?.();
    }
  }

  /** Feeds a response that matched this transaction. */
  receiveResponse(res: SipMessage): void {
    const code = res.status;
    const s = this.#state;
    if (s === 'terminated') return;
    if (this.isInvite) {
      if (s === 'calling' || s === 'proceeding') {
        if (code < 200) {
          this.#state = 'proceeding';
          this.#stop('retransmit');
          this.#stop('timeout');
          this.#o.onResponse?.(res);
        } else if (code < 300) {
          this.#o.onResponse?.(res);
          this.#terminate();
        } else {
          this.#state = 'completed';
          this.#stop('retransmit');
          this.#stop('timeout');
          this.#ack = buildAckForNon2xx(this.request, res);
          this.#o.send(this.#ack);
          this.#o.onResponse?.(res);
          this.#wait = this.#o.clock.setTimeout(
            () => this.#terminate(),
            this.#o.reliable ? 0 : 32_000,
          );
        }
      } else if (s === 'completed' && code >= 300 && this.#ack !== undefined) {
        this.#o.send(this.#ack); // retransmitted final: resend ACK, do not pass up
      }
      return;
    }
    if (s === 'trying' || s === 'proceeding') {
      if (code < 200) {
        this.#state = 'proceeding';
        this.#o.onResponse?.(res);
      } else {
        this.#state = 'completed';
        this.#stop('retransmit');
        this.#stop('timeout');
        this.#o.onResponse?.(res);
        this.#wait = this.#o.clock.setTimeout(
          () => this.#terminate(),
          this.#o.reliable ? 0 : this.#t.T4,
        );
      }
    }
  }

  #stop(which: 'retransmit' | 'timeout' | 'wait'): void {
    const h =
      which === 'retransmit' ? this.#retransmit : which === 'timeout' ? this.#timeout : this.#wait;
    if (h !== undefined) this.#o.clock.clearTimeout(h);
  }

  #terminate(): void {
    if (this.#state === 'terminated') return;
    this.#state = 'terminated';
    this.#stop('retransmit');
    this.#stop('timeout');
    this.#stop('wait');
    this.#o.onTerminated?.();
  }

  /** Ends the transaction at once (e.g. transport error). */
  destroy(): void {
    this.#terminate();
  }
}

export interface ServerTransactionOptions {
  readonly request: SipMessage;
  readonly send: (msg: SipMessage) => void;
  readonly reliable: boolean;
  readonly clock: Clock;
  readonly timers?: TimerValues;
  /** INVITE: timer H fired without an ACK. */
  readonly onTimeout?: () => void;
  /** INVITE: the ACK for a non-2xx final response arrived. */
  readonly onAck?: (ack: SipMessage) => void;
  readonly onTerminated?: () => void;
}

/** RFC 3261 §17.2.1 (INVITE) and §17.2.2 (non-INVITE) server transactions. */
export class ServerTransaction {
  readonly request: SipMessage;
  readonly isInvite: boolean;
  #state: ServerState;
  readonly #o: ServerTransactionOptions;
  readonly #t: TimerValues;
  #last: SipMessage | undefined;
  #retransmit: unknown;
  #timeout: unknown;
  #interval: number;
  /** Responses sent, for tests and metrics. */
  lastResponse(): SipMessage | undefined {
    return this.#last;
  }

  constructor(options: ServerTransactionOptions) {
    this.#o = options;
    this.#t = options.timers ?? DEFAULT_TIMERS;
    this.request = options.request;
    this.isInvite = options.request.method === 'INVITE';
    this.#state = this.isInvite ? 'proceeding' : 'trying';
    this.#interval = this.#t.T1;
  }

  get state(): ServerState {
    return this.#state;
  }

  /** A retransmission of the request (or, for INVITE, an ACK) matched this transaction. */
  receiveRequest(req: SipMessage): void {
    const s = this.#state;
    if (req.method === 'ACK') {
      if (this.isInvite && s === 'completed') {
        this.#state = 'confirmed';
        this.#clear();
        this.#o.onAck?.(req);
        this.#timeout = this.#o.clock.setTimeout(
          () => this.#terminate(),
          this.#o.reliable ? 0 : this.#t.T4,
        );
      }
      return; // ACKs in Confirmed are absorbed
    }
    if ((s === 'proceeding' || s === 'completed') && this.#last !== undefined)
      this.#o.send(this.#last);
  }

  /** The TU answers. */
  respond(res: SipMessage): void {
    const s = this.#state;
    if (s === 'completed' || s === 'confirmed' || s === 'terminated') {
      throw new Error(`cannot respond in state ${s}`);
    }
    this.#last = res;
    this.#o.send(res);
    const code = res.status;
    if (code < 200) {
      this.#state = 'proceeding';
      return;
    }
    if (this.isInvite) {
      if (code < 300) {
        this.#terminate(); // 2xx retransmission belongs to the TU (RFC 3261 §13.3.1.4)
        return;
      }
      this.#state = 'completed';
      const { clock } = this.#o;
      if (!this.#o.reliable) this.#retransmit = clock.setTimeout(() => this.#onG(), this.#interval);
      this.#timeout = clock.setTimeout(() => {
        if (this.#state === 'completed') {
          this.#terminate();
          this.#o.onTimeout?.();
        }
      }, 64 * this.#t.T1);
      return;
    }
    this.#state = 'completed';
    this.#timeout = this.#o.clock.setTimeout(
      () => this.#terminate(),
      this.#o.reliable ? 0 : 64 * this.#t.T1,
    );
  }

  #onG(): void {
    if (this.#state !== 'completed' || this.#last === undefined) return;
    this.#o.send(this.#last);
    this.#interval = Math.min(2 * this.#interval, this.#t.T2);
    this.#retransmit = this.#o.clock.setTimeout(() => this.#onG(), this.#interval);
  }

  #clear(): void {
    if (this.#retransmit !== undefined) this.#o.clock.clearTimeout(this.#retransmit);
    if (this.#timeout !== undefined) this.#o.clock.clearTimeout(this.#timeout);
    this.#retransmit = undefined;
    this.#timeout = undefined;
  }

  #terminate(): void {
    if (this.#state === 'terminated') return;
    this.#state = 'terminated';
    this.#clear();
    this.#o.onTerminated?.();
  }

  destroy(): void {
    this.#terminate();
  }
}
