/**
 * The response context of RFC 3261 §16.7: one per forwarded request, holding its branches (one
 * client transaction each), the best final response so far, and whether the request was
 * answered. The choice of the best response (§16.7 step 6) and the CANCEL of a branch (§9.1)
 * live here; sending is the proxy's.
 */
import { createRequest } from '../message/create-message.js';
import type { SipMessage } from '../message/message.js';
import type { Endpoint } from '../transaction/layer.js';
import type { ClientTransaction, ServerTransaction } from '../transaction/transaction.js';
import type { ProxyTarget, SessionHooks } from './policy.js';

/** One branch: the request as sent to one target, and what came back. */
export interface Branch<H extends Endpoint> {
  readonly request: SipMessage;
  readonly target: ProxyTarget<H>;
  tx?: ClientTransaction;
  /** A provisional response came: a CANCEL may be sent (RFC 3261 §9.1). */
  provisional: boolean;
  final?: SipMessage;
  /** Cancel as soon as a provisional response comes. */
  cancelWanted: boolean;
  cancelled: boolean;
}

export class ResponseContext<H extends Endpoint> {
  readonly server: ServerTransaction;
  /** The request as forwarded (Max-Forwards decremented, offer anchored). */
  readonly request: SipMessage;
  readonly from: H;
  readonly branches: Branch<H>[] = [];
  /** The hooks that see this INVITE's offer/answer, when its media is anchored. */
  readonly session: SessionHooks | undefined;
  /** The INVITE carried the offer (so SDP in a response is the answer). */
  readonly offerSent: boolean;
  /** A final response went upstream (later 2xx are relayed statelessly). */
  answered = false;
  best: SipMessage | undefined;
  /** The INVITE timer (tm `fr_inv_timeout`). */
  timer: unknown;

  constructor(
    server: ServerTransaction,
    request: SipMessage,
    from: H,
    session: SessionHooks | undefined,
    offerSent: boolean,
  ) {
    this.server = server;
    this.request = request;
    this.from = from;
    this.session = session;
    this.offerSent = offerSent;
  }

  /** Every branch has its final response. */
  allFinal(): boolean {
    for (const b of this.branches) if (b.final === undefined) return false;
    return true;
  }

  /** No branch has answered anything yet. */
  silent(): boolean {
    for (const b of this.branches) if (b.provisional || b.final !== undefined) return false;
    return true;
  }
}

/**
 * Is `candidate` a better final response than `best` (RFC 3261 §16.7 step 6)? A 6xx wins over
 * everything and is kept; otherwise the lowest class wins, and within a class the first one
 * stays, except that a 401/407 challenge is preferred within 4xx (the caller can answer it).
 */
export function isBetterFinal(candidate: SipMessage, best: SipMessage | undefined): boolean {
  if (best === undefined) return true;
  const ca = Math.floor(candidate.status / 100);
  const cb = Math.floor(best.status / 100);
  if (cb === 6) return false;
  if (ca === 6) return true;
  if (ca !== cb) return ca < cb;
  return (
    (candidate.status === 401 || candidate.status === 407) &&
    best.status !== 401 &&
    best.status !== 407
  );
}

/**
 * The CANCEL of a branch (RFC 3261 §9.1): its Request-URI, top Via, Route, From, To, Call-ID
 * and CSeq number, so the next hop matches it to the INVITE transaction.
 */
export function cancelFor(branchRequest: SipMessage): SipMessage {
  const r = branchRequest;
  const headers: [string, string][] = [['Via', r.values('via')[0]!]];
  for (const route of r.values('route')) headers.push(['Route', route]);
  headers.push(
    ['Max-Forwards', '70'],
    ['From', r.header('from') ?? ''],
    ['To', r.header('to') ?? ''],
    ['Call-ID', r.callId()],
    ['CSeq', `${r.cseq().seq} CANCEL`],
  );
  return createRequest({ method: 'CANCEL', uri: r.requestUri, headers });
}
