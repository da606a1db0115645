/**
 * What the stateful proxy asks of the application that runs it: the routing policy (where a
 * request goes, or the local answer it gets), the network it forwards over, and the session
 * hooks that see SDP offers and answers go by. The proxy does the RFC 3261 §16 protocol work;
 * these say only what differs from one deployment to the next.
 */
import type { SipMessage } from '../message/message.js';
import type { Endpoint, TransactionLayer } from '../transaction/layer.js';

/** One place a request is forwarded to: one branch of the response context. */
export interface ProxyTarget<H extends Endpoint> {
  readonly hop: H;
  /** The hop is the target UA itself, not another proxy. */
  readonly direct: boolean;
  /**
   * The branch's own copy of the request, made before the common edits (a fork to a binding,
   * see `copyForTarget`). Without it the branch gets a copy of the request as forwarded.
   */
  readonly request?: SipMessage;
}

/** The request is forwarded, in parallel, to every target. */
export interface Forwarding<H extends Endpoint> {
  readonly targets: readonly ProxyTarget<H>[];
  /**
   * Record-Route the request, with these URI parameters after `;lr` (`''` for none);
   * undefined: no Record-Route.
   */
  readonly recordRoute: string | undefined;
  /** The session hooks see this request's offer/answer exchange (its media is anchored here). */
  readonly session: boolean;
}

/** The request is answered here (a response with a To tag of ours). */
export interface LocalReply {
  readonly status: number;
  readonly reason: string;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
}

/** What the policy decided for a request: forward it, or answer it. */
export type RouteDecision<H extends Endpoint> = Forwarding<H> | LocalReply;

/** Where an ACK for a 2xx goes (it is forwarded statelessly). */
export interface AckForwarding<H extends Endpoint> {
  readonly hop: H;
  /** The dialog's media is anchored here: an SDP answer in the ACK goes to the session hooks. */
  readonly session: boolean;
}

/**
 * The routing policy. `route` is the only hook every proxy needs; the others are for what some
 * proxies do besides routing (a registrar, NAT traversal, keep-alive pings).
 */
export interface ProxyPolicy<H extends Endpoint> {
  /**
   * A request that passed validation (RFC 3261 §16.3), with `received`/`rport` on its top Via,
   * before any other edit: initial or in-dialog, never ACK or CANCEL. The policy may edit it
   * (pop the Route values naming this proxy, add Path…) before it decides. A `SipParseError`
   * it throws (a Route or Request-URI it cannot read) is answered with the error's status and
   * reason (400); any other error is answered 500 and counted as internal. A promise (the
   * policy asks a store first) holds the request until it settles; if a CANCEL answered the
   * INVITE meanwhile, the decision is dropped.
   */
  route(req: SipMessage, from: H): RouteDecision<H> | Promise<RouteDecision<H>>;
  /** An ACK for a 2xx (no transaction): where it goes; undefined drops it. */
  routeAck(req: SipMessage, from: H): AckForwarding<H> | undefined;
  /**
   * A request before any transaction exists (a registrar answering REGISTER statelessly, as
   * OpenSIPS's `save()` does). True: the policy answered it and the transaction layer never
   * sees it. Runs for every request: keep it cheap.
   */
  stateless?(req: SipMessage, from: H): boolean;
  /** A response of a branch, our Via removed, before it is relayed (a NAT Contact fix). */
  branchResponse?(res: SipMessage, target: ProxyTarget<H>): void;
  /** A response no transaction wanted; true: the policy consumed it (an answer to its ping). */
  strayResponse?(res: SipMessage, from: H): boolean;
}

/** What the proxy needs of the network it forwards over: interfaces, addresses, sending. */
export interface ProxyNetwork<H extends Endpoint> {
  readonly transactions: TransactionLayer;
  /** Sends without a transaction; a failure is the network's to count, never thrown. */
  send(msg: SipMessage, to: H): void;
  /** `to`, reached by the interface `by` came in on (a response routed by its Via). */
  responseHop(by: H, to: Endpoint): H;
  /** Our Via for a request leaving towards `hop` (with a fresh branch unless one is given). */
  viaFor(hop: H, branch?: string): string;
  /** A URI with `;lr` naming the interface `hop` is reached by, then `params` (Record-Route). */
  recordRouteUri(hop: H, params: string): string;
  /** Do two hops use one interface and transport (one Record-Route is enough, RFC 5658)? */
  sameInterface(a: H, b: H): boolean;
  /** Does host:port name this proxy? */
  isLocalAddress(host: string, port: number | null | undefined): boolean;
}

/**
 * Media anchoring and the like: the SDP offer/answer exchanges of the requests a policy marked
 * `session`. For an INVITE with SDP the offer is in the INVITE and the answer in the 18x/2xx;
 * for one without, the offer comes `late` in the 2xx and the answer in the ACK.
 */
export interface SessionHooks {
  /**
   * An offer or answer in `msg`'s body is about to be forwarded; the proxy holds the message
   * until the promise settles, fulfilled or rejected. `late`: the callee made the offer.
   * `source`: the address the message came from (for a UA's private SDP address).
   */
  exchange(
    msg: SipMessage,
    role: 'offer' | 'answer',
    late: boolean,
    source: string,
  ): Promise<unknown>;
  /** The session ended: a BYE was forwarded, or the INVITE failed or was cancelled. */
  release(callId: string, fromTag: string, toTag?: string): Promise<unknown>;
}

/** Has the message an SDP body (no Content-Type counts as SDP)? */
export function hasSdp(msg: SipMessage): boolean {
  if (msg.body.length === 0) return false;
  const ct = msg.contentType();
  return ct === undefined || ct.toLowerCase().startsWith('application/sdp');
}
