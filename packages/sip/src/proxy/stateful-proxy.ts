/**
 * A stateful forking proxy (RFC 3261 §16) whose routing is a policy the application gives it.
 *
 * - requests: validated (400/416/420/483), INVITE answered 100 Trying at once (§16.2),
 *   `received`/`rport` added to the sender's Via, then the policy decides: a local answer, or
 *   parallel branches, each with its own client transaction, Max-Forwards decremented and
 *   Record-Route added (two when the request changes interface, RFC 5658);
 * - responses (§16.7): 100 absorbed, 1xx relayed, every 2xx relayed at once (other branches
 *   cancelled), a 6xx cancels the others, otherwise the best final response once every branch
 *   ended; an INVITE still unanswered after `inviteTimeoutMs` has its branches cancelled;
 * - CANCEL is answered 200 and cancels every branch (a branch without a provisional response
 *   when one comes, §9.1); an INVITE that no branch answered yet ends 487 at once;
 * - ACK for a 2xx and 2xx retransmissions are forwarded statelessly (§16.11);
 * - drain: new requests outside a dialog get 503 while in-flight ones finish;
 * - session hooks see the SDP offer/answer of the requests the policy marked (media anchoring).
 */
import { type Clock, type Logger, LogLimiter, noopLogger, systemClock } from '@sipedge/core';
import { SipParseError } from '../errors.js';
import { createResponse } from '../message/create-message.js';
import type { SipMessage } from '../message/message.js';
import type { Endpoint } from '../transaction/layer.js';
import type { ServerTransaction } from '../transaction/transaction.js';
import { addRecordRoute, copyRequest, decrementMaxForwards } from './forwarding.js';
import {
  type Forwarding,
  hasSdp,
  type ProxyNetwork,
  type ProxyPolicy,
  type RouteDecision,
  type SessionHooks,
} from './policy.js';
import { type Branch, cancelFor, isBetterFinal, ResponseContext } from './response-context.js';
import { checkProxyRequest } from './validation.js';
import { fixTopVia, responseDestination, statelessBranch } from './via.js';

/** Something counted (a `@sipedge/mi` counter fits). */
export interface ProxyCounter {
  inc(): void;
}

export interface ProxyCounters {
  /** Branches sent. */
  readonly forwarded: ProxyCounter;
  /** Responses made here (local answers, 483, 503 while draining…). */
  readonly replied: ProxyCounter;
  readonly cancels: ProxyCounter;
  /** Requests answered 503 because the proxy drains. */
  readonly drained: ProxyCounter;
  /** Responses no transaction wanted that were not ours to forward. */
  readonly stray: ProxyCounter;
  /** Requests the policy failed on with something other than a parse error (answered 500). */
  readonly internalErrors: ProxyCounter;
}

export interface StatefulProxyOptions<H extends Endpoint> {
  readonly network: ProxyNetwork<H>;
  readonly policy: ProxyPolicy<H>;
  readonly session?: SessionHooks;
  /** How long an INVITE waits for a final response (tm `fr_inv_timeout`); default 120 s. */
  readonly inviteTimeoutMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly counters?: Partial<ProxyCounters>;
  /** Each request answered with the status of a SipParseError the policy threw (400…). */
  readonly onBadInput?: (err: SipParseError, from: Endpoint) => void;
}

const uncounted: ProxyCounter = { inc: () => {} };
const RETRY_AFTER: ReadonlyArray<readonly [string, string]> = [['Retry-After', '5']];

export class StatefulProxy<H extends Endpoint> {
  readonly #net: ProxyNetwork<H>;
  readonly #policy: ProxyPolicy<H>;
  readonly #session: SessionHooks | undefined;
  readonly #inviteTimeoutMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #c: ProxyCounters;
  readonly #onBadInput: ((err: SipParseError, from: Endpoint) => void) | undefined;
  /** Warnings a peer can cause, once per kind per minute. */
  readonly #throttle: LogLimiter;
  readonly #contexts = new Map<ServerTransaction, ResponseContext<H>>();
  #draining = false;
  #tagSeq = 0;
  readonly #tagPrefix = Math.floor(Math.random() * 2 ** 32).toString(36);

  constructor(options: StatefulProxyOptions<H>) {
    this.#net = options.network;
    this.#policy = options.policy;
    this.#session = options.session;
    this.#inviteTimeoutMs = options.inviteTimeoutMs ?? 120_000;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? noopLogger;
    const c = options.counters ?? {};
    this.#c = {
      forwarded: c.forwarded ?? uncounted,
      replied: c.replied ?? uncounted,
      cancels: c.cancels ?? uncounted,
      drained: c.drained ?? uncounted,
      stray: c.stray ?? uncounted,
      internalErrors: c.internalErrors ?? uncounted,
    };
    this.#onBadInput = options.onBadInput;
    this.#throttle = new LogLimiter({ clock: this.#clock });
  }

  /** A warning a peer can cause by what it sends: once per minute per message, with a count. */
  #warn(msg: string, fields: Record<string, unknown>): void {
    const suppressed = this.#throttle.admit(msg);
    if (suppressed !== undefined) this.#log.warn({ ...fields, suppressed }, msg);
  }

  /** Requests forwarded and still waiting for their final response. */
  get inFlight(): number {
    return this.#contexts.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Stops taking new requests outside dialogs (they get 503); in-flight ones go on. */
  drain(): void {
    this.#draining = true;
  }

  // ------------------------------------------------------------------ requests

  /** A request before the transaction layer: the policy's stateless hook; true = handled. */
  onStateless(req: SipMessage, from: H): boolean {
    return this.#policy.stateless?.(req, from) === true;
  }

  /** A request from the transaction layer (`tx` undefined: an ACK for a 2xx). */
  onRequest(req: SipMessage, tx: ServerTransaction | undefined, from: H): void {
    try {
      this.#receive(req, tx, from);
    } catch (err) {
      this.#failed(req, tx, from, err);
    }
  }

  /** A routing failure: a parse error is the sender's (400…), anything else is ours (500). */
  #failed(req: SipMessage, tx: ServerTransaction | undefined, from: H, err: unknown): void {
    if (err instanceof SipParseError) {
      // a value the policy had to read (a Route URI…) is malformed: the sender's fault
      this.#onBadInput?.(err, from);
      if (tx !== undefined) this.reply(tx, req, err.status, err.reasonPhrase);
      return;
    }
    this.#c.internalErrors.inc();
    this.#warn('SIP routing failed', { err: (err as Error).message, method: req.method });
    if (tx !== undefined) this.reply(tx, req, 500, 'Server Internal Error');
  }

  #receive(req: SipMessage, tx: ServerTransaction | undefined, from: H): void {
    if (tx === undefined) {
      if (req.method === 'ACK') this.#forwardAck(req, from);
      return;
    }
    if (this.#draining && req.method !== 'CANCEL' && req.toTag() === undefined) {
      this.#c.drained.inc();
      this.reply(tx, req, 503, 'Service Unavailable', RETRY_AFTER);
      return;
    }
    if (req.method === 'CANCEL') {
      this.#cancel(req, tx);
      return;
    }
    const rejection = checkProxyRequest(req);
    if (rejection !== undefined) {
      this.reply(tx, req, rejection.status, rejection.reason, rejection.headers);
      return;
    }
    // RFC 3261 §16.2: a stateful proxy answers an INVITE 100 at once (stops retransmissions)
    if (req.method === 'INVITE') tx.respond(createResponse(req, 100, 'Trying'));
    fixTopVia(req, from.address, from.port);
    const decision = this.#policy.route(req, from);
    if (!(decision instanceof Promise)) {
      this.#decided(req, tx, from, decision);
      return;
    }
    // a policy that asks elsewhere first (a federation lookup): the transaction waits
    decision.then(
      (d) => {
        // a CANCEL may have answered the INVITE meanwhile
        if (tx.state !== 'trying' && tx.state !== 'proceeding') return;
        this.#decided(req, tx, from, d);
      },
      (err: unknown) => this.#failed(req, tx, from, err),
    );
  }

  #decided(req: SipMessage, tx: ServerTransaction, from: H, decision: RouteDecision<H>): void {
    if ('targets' in decision) this.#forward(req, tx, from, decision);
    else this.reply(tx, req, decision.status, decision.reason, decision.headers);
  }

  /** A response made here: through the server transaction, or statelessly to `to`. */
  reply(
    to: ServerTransaction | H,
    req: SipMessage,
    status: number,
    reason: string,
    headers?: ReadonlyArray<readonly [string, string]>,
  ): void {
    this.#c.replied.inc();
    try {
      const res = createResponse(req, status, reason, {
        toTag: this.#tag(),
        ...(headers === undefined ? {} : { headers }),
      });
      if ('respond' in to) to.respond(res);
      else this.#net.send(res, to);
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'cannot answer request');
    }
  }

  // ------------------------------------------------------------------ forwarding

  #forward(req: SipMessage, tx: ServerTransaction, from: H, f: Forwarding<H>): void {
    decrementMaxForwards(req);
    const session = f.session ? this.#session : undefined;
    const isInvite = req.method === 'INVITE';
    const offer = session !== undefined && isInvite && hasSdp(req);
    // BYE ends the media of a dialog anchored here
    if (req.method === 'BYE' && session !== undefined) {
      void session.release(req.callId(), req.fromTag() ?? '', req.toTag());
    }
    if (!offer) {
      this.#branch(req, tx, from, f, isInvite ? session : undefined, false);
      return;
    }
    session
      .exchange(req, 'offer', false, from.address)
      .catch((err: unknown) => {
        this.#warn('media offer failed', { err: (err as Error).message });
      })
      .then(() => this.#branch(req, tx, from, f, session, true))
      .catch((err: unknown) => this.#warn('forward failed', { err: (err as Error).message }));
  }

  /** Sends one branch per target and keeps the response context. */
  #branch(
    req: SipMessage,
    tx: ServerTransaction,
    from: H,
    f: Forwarding<H>,
    session: SessionHooks | undefined,
    offer: boolean,
  ): void {
    const net = this.#net;
    const ctx = new ResponseContext(tx, req, from, session, offer);
    this.#contexts.set(tx, ctx);
    for (const target of f.targets) {
      const b = target.request ?? copyRequest(req);
      if (target.request !== undefined) {
        // a fork branch was copied before the common edits: apply them
        const mf = req.maxForwards();
        if (mf !== undefined) b.setHeader('Max-Forwards', String(mf));
        if (offer) b.setBody(req.body);
      }
      if (f.recordRoute !== undefined) {
        const inbound = net.recordRouteUri(from, f.recordRoute);
        const outbound = net.sameInterface(target.hop, from)
          ? undefined
          : net.recordRouteUri(target.hop, f.recordRoute);
        addRecordRoute(b, inbound, outbound);
      }
      b.prependVia(net.viaFor(target.hop));
      const branch: Branch<H> = {
        request: b,
        target,
        provisional: false,
        cancelWanted: false,
        cancelled: false,
      };
      ctx.branches.push(branch);
      this.#c.forwarded.inc();
      branch.tx = net.transactions.request(b, target.hop, {
        onResponse: (res) => this.#onBranchResponse(ctx, branch, res),
        onTimeout: () =>
          this.#onBranchResponse(ctx, branch, createResponse(b, 408, 'Request Timeout')),
      });
    }
    if (req.method === 'INVITE') {
      ctx.timer = this.#clock.setTimeout(() => this.#expire(ctx), this.#inviteTimeoutMs);
    }
  }

  /** ACK for a 2xx: follows the route set, statelessly (its branch is derived, §16.11). */
  #forwardAck(req: SipMessage, from: H): void {
    const route = this.#policy.routeAck(req, from);
    if (route === undefined) return;
    decrementMaxForwards(req);
    fixTopVia(req, from.address, from.port);
    const send = (): void => {
      req.prependVia(this.#net.viaFor(route.hop, statelessBranch(req)));
      this.#net.send(req, route.hop);
    };
    const session = this.#session;
    if (session !== undefined && route.session && hasSdp(req)) {
      // the answer to a late offer
      session
        .exchange(req, 'answer', true, from.address)
        .then(send, send)
        .catch((err: unknown) => this.#warn('ACK dropped', { err: (err as Error).message }));
      return;
    }
    send();
  }

  // ------------------------------------------------------------------ responses

  #onBranchResponse(ctx: ResponseContext<H>, branch: Branch<H>, res: SipMessage): void {
    try {
      this.#branchResponse(ctx, branch, res);
    } catch (err) {
      // timer callbacks land here too: never let a malformed response escape
      this.#warn('response dropped', { err: (err as Error).message, status: res.status });
    }
  }

  #branchResponse(ctx: ResponseContext<H>, branch: Branch<H>, res: SipMessage): void {
    const status = res.status;
    if (status === 100) return;
    if (branch.final !== undefined) return;
    if (status < 200) {
      branch.provisional = true;
      if (branch.cancelWanted) this.#sendCancel(branch);
    } else {
      branch.final = res;
    }
    // responses made by the transaction layer (408) carry no Via of ours to remove
    if (res.vias().length > ctx.request.vias().length) res.removeTopVia();
    this.#policy.branchResponse?.(res, branch.target);
    const session = ctx.session;
    if (session !== undefined && status >= 180 && status < 300 && hasSdp(res)) {
      const role = ctx.offerSent ? 'answer' : 'offer';
      const relay = (): void => this.#relay(ctx, branch, res);
      session
        .exchange(res, role, role === 'offer', branch.target.hop.address)
        .then(relay, relay)
        .catch((err: unknown) => this.#warn('relay failed', { err: (err as Error).message }));
      return;
    }
    this.#relay(ctx, branch, res);
  }

  /** RFC 3261 §16.7 steps 4–10 for one response of one branch. */
  #relay(ctx: ResponseContext<H>, branch: Branch<H>, res: SipMessage): void {
    const status = res.status;
    if (ctx.answered) {
      // every 2xx goes upstream (§16.7 step 5); after the first, statelessly
      if (status >= 200 && status < 300) this.#sendResponse(res, ctx.from);
      return;
    }
    if (status < 200) {
      ctx.server.respond(res);
      return;
    }
    if (status < 300) {
      this.#finish(ctx);
      ctx.server.respond(res);
      for (const b of ctx.branches) if (b !== branch) this.#cancelBranch(b);
      return;
    }
    if (status >= 600) for (const b of ctx.branches) if (b !== branch) this.#cancelBranch(b);
    if (isBetterFinal(res, ctx.best)) ctx.best = res;
    if (!ctx.allFinal()) return;
    this.#finish(ctx);
    ctx.server.respond(ctx.best ?? res);
    if (ctx.session !== undefined) {
      void ctx.session.release(ctx.request.callId(), ctx.request.fromTag() ?? '');
    }
  }

  /** The request is answered: the context is forgotten (later 2xx go statelessly). */
  #finish(ctx: ResponseContext<H>): void {
    ctx.answered = true;
    if (ctx.timer !== undefined) this.#clock.clearTimeout(ctx.timer);
    this.#contexts.delete(ctx.server);
  }

  /** A response no client transaction wanted: a 2xx retransmission, or the policy's. */
  onStrayResponse(res: SipMessage, from: H): void {
    if (this.#policy.strayResponse?.(res, from) === true) return;
    const via = res.topVia();
    if (
      via === undefined ||
      !this.#net.isLocalAddress(via.host, via.port) ||
      res.vias().length < 2
    ) {
      this.#c.stray.inc();
      return;
    }
    res.removeTopVia();
    this.#sendResponse(res, from);
  }

  /** Sends a response (our Via removed) to its next Via, by the interface of `by`. */
  #sendResponse(res: SipMessage, by: H): void {
    const next = res.topVia();
    if (next === undefined) return;
    this.#net.send(res, this.#net.responseHop(by, responseDestination(next)));
  }

  // ------------------------------------------------------------------ CANCEL

  /** The INVITE timer: pending branches are cancelled; they end 487 (or 408 by timer B). */
  #expire(ctx: ResponseContext<H>): void {
    for (const b of ctx.branches) this.#cancelBranch(b);
  }

  #cancelBranch(b: Branch<H>): void {
    if (b.final !== undefined || b.cancelled) return;
    if (b.request.method !== 'INVITE') return;
    if (!b.provisional) {
      b.cancelWanted = true; // sent when a provisional arrives (RFC 3261 §9.1)
      return;
    }
    this.#sendCancel(b);
  }

  #sendCancel(b: Branch<H>): void {
    if (b.cancelled) return;
    b.cancelled = true;
    this.#net.transactions.request(cancelFor(b.request), b.target.hop, {});
  }

  #cancel(req: SipMessage, tx: ServerTransaction): void {
    this.#c.cancels.inc();
    const invite = this.#net.transactions.findInviteForCancel(req);
    if (invite === undefined) {
      this.reply(tx, req, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.reply(tx, req, 200, 'OK');
    const ctx = this.#contexts.get(invite);
    if (ctx === undefined) {
      // not forwarded (yet): answer the INVITE here
      if (invite.state === 'proceeding' || invite.state === 'trying') {
        invite.respond(
          createResponse(invite.request, 487, 'Request Terminated', { toTag: this.#tag() }),
        );
      }
      return;
    }
    // branches with a provisional response get CANCEL now, the others when one arrives
    for (const b of ctx.branches) this.#cancelBranch(b);
    if (ctx.session !== undefined) void ctx.session.release(req.callId(), req.fromTag() ?? '');
    // if no branch ever answered, answer 487 now rather than after timer B
    if (ctx.silent()) {
      ctx.best = createResponse(ctx.request, 487, 'Request Terminated', { toTag: this.#tag() });
      this.#finish(ctx);
      ctx.server.respond(ctx.best);
    }
  }

  /** A To tag for responses made here. */
  #tag(): string {
    this.#tagSeq++;
    return `${this.#tagPrefix}${this.#tagSeq.toString(36)}`;
  }
}
