import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { SipParseError } from '../errors.js';
import { createResponse } from '../message/create-message.js';
import type { SipMessage } from '../message/message.js';
import { parseMessage } from '../message/parse-message.js';
import { type Endpoint, TransactionLayer } from '../transaction/layer.js';
import type { ProxyNetwork, ProxyPolicy, RouteDecision } from './policy.js';
import { isBetterFinal } from './response-context.js';
import { StatefulProxy, type StatefulProxyOptions } from './stateful-proxy.js';
import { formatVia, newBranch } from './via.js';

const PROXY = { host: '192.0.2.1', port: 5060 };
const CALLER: Endpoint = { transport: 'UDP', address: '192.0.2.10', port: 5060 };
const A: Endpoint = { transport: 'UDP', address: '192.0.2.21', port: 5060 };
const B: Endpoint = { transport: 'UDP', address: '192.0.2.22', port: 5060 };

interface Sent {
  readonly msg: SipMessage;
  readonly to: Endpoint;
}

/** A proxy on an in-memory network: what it sends is recorded, time is virtual. */
function harness(
  route: (req: SipMessage) => RouteDecision<Endpoint> | Promise<RouteDecision<Endpoint>>,
  inviteTimeoutMs = 120_000,
  extra: Partial<StatefulProxyOptions<Endpoint>> = {},
) {
  const sent: Sent[] = [];
  const clock = new VirtualClock();
  const send = (msg: SipMessage, to: Endpoint): void => {
    sent.push({ msg: parseMessage(msg.toBuffer()), to });
  };
  const network: ProxyNetwork<Endpoint> = {
    get transactions() {
      return layer;
    },
    send,
    responseHop: (_by, to) => to,
    viaFor: (_hop, branch = newBranch()) => formatVia('UDP', PROXY.host, PROXY.port, branch),
    recordRouteUri: (_hop, params) => `sip:${PROXY.host};lr${params}`,
    sameInterface: () => true,
    isLocalAddress: (h, p) => h === PROXY.host && (p ?? 5060) === PROXY.port,
  };
  const policy: ProxyPolicy<Endpoint> = {
    route,
    routeAck: () => ({ hop: A, session: false }),
  };
  const proxy = new StatefulProxy({ network, policy, clock, inviteTimeoutMs, ...extra });
  const layer: TransactionLayer = new TransactionLayer({
    send,
    clock,
    onRequest: (req, tx, from) => proxy.onRequest(req, tx, from),
    onStrayResponse: (res, from) => proxy.onStrayResponse(res, from),
  });
  const toCaller = (): SipMessage[] =>
    sent.filter((s) => !s.msg.isRequest && s.to.address === CALLER.address).map((s) => s.msg);
  const requestsTo = (to: Endpoint, method: string): SipMessage[] =>
    sent.filter((s) => s.msg.method === method && s.to === to).map((s) => s.msg);
  /** The target answers the branch it got. */
  const answer = (to: Endpoint, status: number, reason = 'Whatever'): void => {
    const branch = requestsTo(to, 'INVITE')[0];
    if (branch === undefined) throw new Error(`no INVITE went to ${to.address}`);
    const tag = status === 100 ? {} : { toTag: `t-${to.address}` };
    layer.receive(createResponse(branch, status, reason, tag), to);
  };
  return { proxy, layer, clock, sent, toCaller, requestsTo, answer };
}

function request(method: string, extra = '', branch = 'z9hG4bKcaller1'): SipMessage {
  return parseMessage(
    Buffer.from(
      `${method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=${branch}\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n` +
        `Call-ID: call-1\r\nCSeq: 1 ${method}\r\nContact: <sip:alice@192.0.2.10>\r\n${extra}Content-Length: 0\r\n\r\n`,
    ),
  );
}

/** The request with a To tag (in a dialog). */
function inDialog(req: SipMessage): SipMessage {
  return parseMessage(
    Buffer.from(
      req
        .toBuffer()
        .toString()
        .replace('To: <sip:bob@example.com>', 'To: <sip:bob@example.com>;tag=b1'),
    ),
  );
}

const fork: RouteDecision<Endpoint> = {
  targets: [
    { hop: A, direct: true },
    { hop: B, direct: true },
  ],
  recordRoute: '',
  session: false,
};
const statuses = (msgs: SipMessage[]): number[] => msgs.map((m) => m.status);

describe('StatefulProxy (RFC 3261 §16)', () => {
  it('answers 100 Trying and forks an INVITE to every target at once', () => {
    const h = harness(() => fork);
    h.layer.receive(request('INVITE'), CALLER);
    expect(statuses(h.toCaller())).toEqual([100]);
    for (const to of [A, B]) {
      const [inv] = h.requestsTo(to, 'INVITE');
      expect(inv?.maxForwards()).toBe(69);
      expect(inv?.vias().map((v) => v.host)).toEqual([PROXY.host, '192.0.2.10']);
      expect(inv?.values('record-route')).toEqual([`<sip:${PROXY.host};lr>`]);
    }
    const branches = [A, B].map((to) => h.requestsTo(to, 'INVITE')[0]?.topVia()?.branch);
    expect(new Set(branches).size).toBe(2);
    expect(h.proxy.inFlight).toBe(1);
  });

  it('answers 400 with the reason when the policy cannot read a value (a Route URI), never 500', () => {
    const bad: SipParseError[] = [];
    let internal = 0;
    const h = harness(
      () => {
        throw new SipParseError('uri', 'bad IPv6 reference [zz]');
      },
      120_000,
      { onBadInput: (e) => bad.push(e), counters: { internalErrors: { inc: () => internal++ } } },
    );
    h.layer.receive(request('OPTIONS', 'Route: <sip:[zz]>\r\n'), CALLER);
    const [res] = h.toCaller();
    expect(res?.status).toBe(400);
    expect(res?.reason).toBe('Bad Request (uri)');
    expect(bad.map((e) => e.reason)).toEqual(['uri']);
    expect(internal).toBe(0);
  });

  it('answers 500 and counts an internal error when the policy fails otherwise', () => {
    let internal = 0;
    const h = harness(
      () => {
        throw new TypeError('a bug');
      },
      120_000,
      { counters: { internalErrors: { inc: () => internal++ } } },
    );
    h.layer.receive(request('OPTIONS'), CALLER);
    expect(statuses(h.toCaller())).toEqual([500]);
    expect(internal).toBe(1);
  });

  it('answers 483 to a request whose Max-Forwards is 0, and forwards nothing', () => {
    const h = harness(() => fork);
    h.layer.receive(request('OPTIONS', '').setHeader('Max-Forwards', '0'), CALLER);
    expect(statuses(h.toCaller())).toEqual([483]);
    expect(h.sent.filter((s) => s.msg.isRequest)).toEqual([]);
  });

  it('waits for every branch, then sends the lowest class (§16.7 step 6)', () => {
    const h = harness(() => fork);
    h.layer.receive(request('INVITE'), CALLER);
    h.answer(A, 503, 'Service Unavailable');
    expect(statuses(h.toCaller())).toEqual([100]);
    h.answer(B, 486, 'Busy Here');
    expect(statuses(h.toCaller())).toEqual([100, 486]);
    expect(h.proxy.inFlight).toBe(0);
  });

  it('prefers a challenge within 4xx, so the caller can answer it', () => {
    const h = harness(() => fork);
    h.layer.receive(request('INVITE'), CALLER);
    h.answer(A, 404, 'Not Found');
    h.answer(B, 407, 'Proxy Authentication Required');
    expect(statuses(h.toCaller())).toEqual([100, 407]);
  });

  it('cancels the other branches on a 6xx and sends the 6xx once all ended', () => {
    const h = harness(() => fork);
    h.layer.receive(request('INVITE'), CALLER);
    h.answer(A, 180, 'Ringing');
    h.answer(B, 603, 'Decline');
    expect(h.requestsTo(A, 'CANCEL')).toHaveLength(1);
    expect(statuses(h.toCaller())).toEqual([100, 180]);
    h.answer(A, 487, 'Request Terminated');
    expect(statuses(h.toCaller())).toEqual([100, 180, 603]);
  });

  it('relays a 2xx at once, cancels the others, and relays a later 2xx too (§16.7 step 5)', () => {
    const h = harness(() => fork);
    h.layer.receive(request('INVITE'), CALLER);
    h.answer(A, 180, 'Ringing');
    h.answer(B, 180, 'Ringing');
    h.answer(A, 200, 'OK');
    expect(statuses(h.toCaller())).toEqual([100, 180, 180, 200]);
    expect(h.requestsTo(B, 'CANCEL')).toHaveLength(1);
    expect(h.requestsTo(A, 'CANCEL')).toHaveLength(0);
    h.answer(B, 200, 'OK');
    expect(statuses(h.toCaller())).toEqual([100, 180, 180, 200, 200]);
    // relayed responses carry the caller's Via only
    expect(h.toCaller().every((r) => r.vias().length === 1)).toBe(true);
  });

  it('answers CANCEL 200, cancels branches that rang, and holds the CANCEL of a silent one until it rings', () => {
    const h = harness(() => fork);
    h.layer.receive(request('INVITE'), CALLER);
    h.answer(A, 180, 'Ringing');
    h.layer.receive(request('CANCEL'), CALLER);
    const cancelled = h.toCaller().filter((r) => r.cseq().method === 'CANCEL');
    expect(statuses(cancelled)).toEqual([200]);
    const cancelA = h.requestsTo(A, 'CANCEL');
    expect(cancelA).toHaveLength(1);
    // the CANCEL matches the branch's INVITE transaction (same branch, RFC 3261 §9.1)
    expect(cancelA[0]?.topVia()?.branch).toBe(h.requestsTo(A, 'INVITE')[0]?.topVia()?.branch);
    expect(h.requestsTo(B, 'CANCEL')).toHaveLength(0);
    h.answer(B, 183, 'Session Progress');
    expect(h.requestsTo(B, 'CANCEL')).toHaveLength(1);
    h.answer(A, 487, 'Request Terminated');
    h.answer(B, 487, 'Request Terminated');
    expect(statuses(h.toCaller()).at(-1)).toBe(487);
  });

  it('answers 487 at once when a CANCEL comes before any branch answered', () => {
    const h = harness(() => fork);
    h.layer.receive(request('INVITE'), CALLER);
    h.layer.receive(request('CANCEL'), CALLER);
    const finals = h.toCaller().filter((r) => r.cseq().method === 'INVITE');
    expect(statuses(finals)).toEqual([100, 487]);
    expect(finals[1]?.toTag()).toBeDefined();
    expect(h.proxy.inFlight).toBe(0);
  });

  it('forwards once a policy that answers with a promise has decided', async () => {
    let decide: (d: RouteDecision<Endpoint>) => void = () => {};
    const h = harness(() => new Promise((resolve) => (decide = resolve)));
    h.layer.receive(request('INVITE'), CALLER);
    expect(statuses(h.toCaller())).toEqual([100]);
    expect(h.requestsTo(A, 'INVITE')).toHaveLength(0);
    decide(fork);
    await Promise.resolve();
    expect(h.requestsTo(A, 'INVITE')).toHaveLength(1);
    expect(h.requestsTo(B, 'INVITE')).toHaveLength(1);
  });

  it('drops a late decision for an INVITE a CANCEL answered meanwhile', async () => {
    let decide: (d: RouteDecision<Endpoint>) => void = () => {};
    const h = harness(() => new Promise((resolve) => (decide = resolve)));
    h.layer.receive(request('INVITE'), CALLER);
    h.layer.receive(request('CANCEL'), CALLER);
    decide(fork);
    await Promise.resolve();
    expect(h.requestsTo(A, 'INVITE')).toHaveLength(0);
    const finals = h.toCaller().filter((r) => r.cseq().method === 'INVITE');
    expect(statuses(finals)).toEqual([100, 487]);
  });

  it('answers 500 when the promise of a policy rejects', async () => {
    const h = harness(() => Promise.reject(new Error('store gone')));
    h.layer.receive(request('MESSAGE'), CALLER);
    await new Promise((r) => setImmediate(r));
    expect(statuses(h.toCaller())).toEqual([500]);
  });

  it('answers 481 to a CANCEL that matches no INVITE', () => {
    const h = harness(() => fork);
    h.layer.receive(request('CANCEL'), CALLER);
    expect(statuses(h.toCaller())).toEqual([481]);
  });

  it('cancels the branches of an INVITE unanswered after inviteTimeoutMs', () => {
    const h = harness(() => fork, 1000);
    h.layer.receive(request('INVITE'), CALLER);
    h.answer(A, 180, 'Ringing');
    h.answer(B, 180, 'Ringing');
    h.clock.advance(999);
    expect(h.sent.filter((s) => s.msg.method === 'CANCEL')).toHaveLength(0);
    h.clock.advance(1);
    expect(h.requestsTo(A, 'CANCEL')).toHaveLength(1);
    expect(h.requestsTo(B, 'CANCEL')).toHaveLength(1);
  });

  it("sends the policy's local answer with a To tag of its own", () => {
    const h = harness(() => ({ status: 404, reason: 'Not Found' }));
    h.layer.receive(request('MESSAGE'), CALLER);
    const [res] = h.toCaller();
    expect(res?.status).toBe(404);
    expect(res?.toTag()).toBeDefined();
  });

  it('answers 503 with Retry-After to new requests while draining, not to in-dialog ones', () => {
    const h = harness(() => ({
      targets: [{ hop: A, direct: true }],
      recordRoute: undefined,
      session: false,
    }));
    h.proxy.drain();
    h.layer.receive(request('INVITE'), CALLER);
    expect(statuses(h.toCaller())).toEqual([503]);
    expect(h.toCaller()[0]?.header('retry-after')).toBe('5');
    const bye = inDialog(request('BYE', '', 'z9hG4bKbye'));
    h.layer.receive(bye, CALLER);
    expect(h.requestsTo(A, 'BYE')).toHaveLength(1);
  });

  it('forwards an ACK for a 2xx statelessly, with a branch derived from the incoming one', () => {
    const h = harness(() => fork);
    const ack = (): SipMessage => inDialog(request('ACK', '', 'z9hG4bKack1'));
    h.layer.receive(ack(), CALLER);
    h.layer.receive(ack(), CALLER);
    const acks = h.requestsTo(A, 'ACK');
    expect(acks).toHaveLength(2);
    expect(acks[0]?.topVia()?.branch).toBe(acks[1]?.topVia()?.branch);
    expect(acks[0]?.maxForwards()).toBe(69);
  });
});

describe('isBetterFinal (RFC 3261 §16.7 step 6)', () => {
  const res = (status: number): SipMessage => createResponse(request('INVITE'), status, 'x');
  it('takes the first response, then the lowest class; a 6xx is kept against all', () => {
    expect(isBetterFinal(res(500), undefined)).toBe(true);
    expect(isBetterFinal(res(404), res(500))).toBe(true);
    expect(isBetterFinal(res(500), res(404))).toBe(false);
    expect(isBetterFinal(res(603), res(404))).toBe(true);
    expect(isBetterFinal(res(200), res(603))).toBe(false);
    expect(isBetterFinal(res(302), res(486))).toBe(true);
  });
  it('keeps the first within a class, except that a 401/407 wins over another 4xx', () => {
    expect(isBetterFinal(res(486), res(404))).toBe(false);
    expect(isBetterFinal(res(401), res(404))).toBe(true);
    expect(isBetterFinal(res(407), res(401))).toBe(false);
    expect(isBetterFinal(res(404), res(407))).toBe(false);
  });
});
