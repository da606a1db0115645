import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { createResponse } from '../message/create-message.js';
import type { SipMessage } from '../message/message.js';
import { parseMessage } from '../message/parse-message.js';
import { type Endpoint, TransactionLayer } from './layer.js';
import { ClientTransaction, ServerTransaction } from './transaction.js';

function request(method: string, branch = 'z9hG4bKabc', extra = ''): SipMessage {
  return parseMessage(
    Buffer.from(
      `${method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=${branch}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>${extra}\r\nCall-ID: c1@192.0.2.1\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`,
    ),
  );
}

function recorder(clock: VirtualClock): {
  sent: Array<{ at: number; msg: SipMessage }>;
  send: (m: SipMessage) => void;
} {
  const sent: Array<{ at: number; msg: SipMessage }> = [];
  return { sent, send: (msg) => sent.push({ at: clock.now(), msg }) };
}

describe('INVITE client transaction (RFC 3261 §17.1.1)', () => {
  it('retransmits on timer A (T1 doubling) and times out on timer B = 64*T1 over UDP', () => {
    const clock = new VirtualClock();
    const r = recorder(clock);
    let timedOut = -1;
    const tx = new ClientTransaction({
      request: request('INVITE'),
      send: r.send,
      reliable: false,
      clock,
      onTimeout: () => {
        timedOut = clock.now();
      },
    }).start();
    clock.advance(40_000);
    expect(r.sent.map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(timedOut).toBe(32_000);
    expect(tx.state).toBe('terminated');
    expect(clock.pending).toBe(0);
  });

  it('stops retransmitting on 1xx, ACKs a non-2xx, absorbs its retransmission, ends after timer D', () => {
    const clock = new VirtualClock();
    const r = recorder(clock);
    const up: number[] = [];
    const inv = request('INVITE');
    const tx = new ClientTransaction({
      request: inv,
      send: r.send,
      reliable: false,
      clock,
      onResponse: (m) => up.push(m.status),
    }).start();
    clock.advance(600);
    tx.receiveResponse(createResponse(inv, 180, 'Ringing', { toTag: 't' }));
    clock.advance(10_000);
    expect(r.sent.length).toBe(2);
    const busy = createResponse(inv, 486, 'Busy Here', { toTag: 't' });
    tx.receiveResponse(busy);
    expect(tx.state).toBe('completed');
    const ack = r.sent[2]!.msg;
    expect(ack.method).toBe('ACK');
    expect(ack.topVia()?.branch).toBe('z9hG4bKabc');
    expect(ack.toTag()).toBe('t');
    expect(ack.cseq()).toEqual({ seq: 1, method: 'ACK' });
    tx.receiveResponse(busy);
    expect(r.sent.length).toBe(4);
    expect(up).toEqual([180, 486]);
    clock.advance(31_999);
    expect(tx.state).toBe('completed');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
  });

  it('does not retransmit over a reliable transport and ends at once after a non-2xx', () => {
    const clock = new VirtualClock();
    const r = recorder(clock);
    const inv = request('INVITE');
    const tx = new ClientTransaction({ request: inv, send: r.send, reliable: true, clock }).start();
    clock.advance(10_000);
    expect(r.sent.length).toBe(1);
    tx.receiveResponse(createResponse(inv, 500, 'Oops', { toTag: 'x' }));
    clock.advance(0);
    expect(tx.state).toBe('terminated');
  });

  it('terminates on 2xx and leaves the ACK to the TU', () => {
    const clock = new VirtualClock();
    const r = recorder(clock);
    const inv = request('INVITE');
    const tx = new ClientTransaction({
      request: inv,
      send: r.send,
      reliable: false,
      clock,
    }).start();
    tx.receiveResponse(createResponse(inv, 200, 'OK', { toTag: 'x' }));
    expect(tx.state).toBe('terminated');
    expect(r.sent.length).toBe(1);
  });
});

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  it('retransmits on timer E (doubling to T2) and times out on timer F', () => {
    const clock = new VirtualClock();
    const r = recorder(clock);
    let timedOut = -1;
    new ClientTransaction({
      request: request('OPTIONS'),
      send: r.send,
      reliable: false,
      clock,
      onTimeout: () => {
        timedOut = clock.now();
      },
    }).start();
    clock.advance(40_000);
    expect(r.sent.map((s) => s.at)).toEqual([
      0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]);
    expect(timedOut).toBe(32_000);
  });

  it('retransmits every T2 in Proceeding and waits timer K = T4 in Completed', () => {
    const clock = new VirtualClock();
    const r = recorder(clock);
    const req = request('OPTIONS');
    const tx = new ClientTransaction({
      request: req,
      send: r.send,
      reliable: false,
      clock,
    }).start();
    tx.receiveResponse(createResponse(req, 100, 'Trying'));
    clock.advance(9_000);
    // E was armed for 500 before the 1xx; from then on it is T2
    expect(r.sent.map((s) => s.at)).toEqual([0, 500, 4500, 8500]);
    tx.receiveResponse(createResponse(req, 200, 'OK', { toTag: 'x' }));
    clock.advance(4_999);
    expect(tx.state).toBe('completed');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
  });
});

describe('INVITE server transaction (RFC 3261 §17.2.1)', () => {
  it('resends the last provisional, retransmits a non-2xx on G, gives up on H', () => {
    const clock = new VirtualClock();
    const r = recorder(clock);
    let timeout = -1;
    const inv = request('INVITE');
    const tx = new ServerTransaction({
      request: inv,
      send: r.send,
      reliable: false,
      clock,
      onTimeout: () => {
        timeout = clock.now();
      },
    });
    tx.respond(createResponse(inv, 100, 'Trying'));
    tx.receiveRequest(inv);
    expect(r.sent.map((s) => s.msg.status)).toEqual([100, 100]);
    tx.respond(createResponse(inv, 404, 'Not Found', { toTag: 'x' }));
    clock.advance(40_000);
    expect(r.sent.slice(2).map((s) => s.at)).toEqual([
      0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]);
    expect(timeout).toBe(32_000);
    expect(tx.state).toBe('terminated');
  });

  it('moves to Confirmed on ACK and ends after timer I = T4', () => {
    const clock = new VirtualClock();
    const r = recorder(clock);
    const inv = request('INVITE');
    let acked = false;
    const tx = new ServerTransaction({
      request: inv,
      send: r.send,
      reliable: false,
      clock,
      onAck: () => {
        acked = true;
      },
    });
    tx.respond(createResponse(inv, 486, 'Busy Here', { toTag: 'x' }));
    clock.advance(100);
    tx.receiveRequest(request('ACK'));
    expect(tx.state).toBe('confirmed');
    expect(acked).toBe(true);
    clock.advance(4_999);
    expect(tx.state).toBe('confirmed');
    expect(r.sent.length).toBe(1);
    clock.advance(1);
    expect(tx.state).toBe('terminated');
  });
});

describe('non-INVITE server transaction (RFC 3261 §17.2.2)', () => {
  it('absorbs retransmissions in Trying, resends the final in Completed, ends after timer J', () => {
    const clock = new VirtualClock();
    const r = recorder(clock);
    const req = request('OPTIONS');
    const tx = new ServerTransaction({ request: req, send: r.send, reliable: false, clock });
    tx.receiveRequest(req);
    expect(r.sent.length).toBe(0);
    tx.respond(createResponse(req, 200, 'OK', { toTag: 'x' }));
    tx.receiveRequest(req);
    expect(r.sent.length).toBe(2);
    clock.advance(31_999);
    expect(tx.state).toBe('completed');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
  });
});

describe('TransactionLayer', () => {
  const from: Endpoint = { transport: 'UDP', address: '192.0.2.1', port: 5060 };

  function layer(clock = new VirtualClock()): {
    l: TransactionLayer;
    sent: SipMessage[];
    got: Array<[SipMessage, ServerTransaction | undefined]>;
    bad: string[];
  } {
    const sent: SipMessage[] = [];
    const got: Array<[SipMessage, ServerTransaction | undefined]> = [];
    const bad: string[] = [];
    const l = new TransactionLayer({
      clock,
      send: (m) => sent.push(m),
      onRequest: (req, tx) => got.push([req, tx]),
      onBadInput: (e) => bad.push(e.reason),
    });
    return { l, sent, got, bad };
  }

  it('absorbs request retransmissions and matches CANCEL to its INVITE', () => {
    const { l, got } = layer();
    const inv = request('INVITE');
    l.receive(inv, from);
    l.receive(request('INVITE'), from);
    expect(got.length).toBe(1);
    expect(l.counters.absorbed).toBe(1);
    const cancel = request('CANCEL');
    l.receive(cancel, from);
    expect(got.length).toBe(2);
    expect(l.findInviteForCancel(cancel)).toBe(got[0]![1]);
    expect(l.findInviteForCancel(request('CANCEL', 'z9hG4bKother'))).toBeUndefined();
  });

  it('routes ACK for a non-2xx into the transaction and ACK for 2xx to the TU', () => {
    const { l, got } = layer();
    l.receive(request('INVITE'), from);
    const tx = got[0]![1]!;
    tx.respond(createResponse(tx.request, 486, 'Busy Here', { toTag: 'x' }));
    l.receive(request('ACK', 'z9hG4bKabc', ';tag=x'), from);
    expect(tx.state).toBe('confirmed');
    expect(got.length).toBe(1);
    l.receive(request('ACK', 'z9hG4bKnew', ';tag=x'), from);
    expect(got.length).toBe(2);
    expect(got[1]![1]).toBeUndefined();
  });

  it('matches RFC 2543 requests without a magic-cookie branch', () => {
    const { l, got } = layer();
    const old = (): SipMessage => request('INVITE', 'oldstyle');
    l.receive(old(), from);
    l.receive(old(), from);
    expect(got.length).toBe(1);
    const tx = got[0]![1]!;
    tx.respond(createResponse(tx.request, 404, 'Not Found', { toTag: 'z' }));
    l.receive(request('ACK', 'oldstyle', ';tag=wrong'), from);
    expect(tx.state).toBe('completed');
    l.receive(request('ACK', 'oldstyle', ';tag=z'), from);
    expect(tx.state).toBe('confirmed');
  });

  it('answers a malformed request with 400 and its reason', () => {
    const { l, sent, got, bad } = layer();
    const req = parseMessage(
      Buffer.from(request('OPTIONS').toString().replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE')),
    );
    l.receive(req, from);
    expect(got.length).toBe(0);
    expect(sent[0]?.status).toBe(400);
    expect(sent[0]?.reason).toBe('Bad Request (cseq-method)');
    expect(bad).toEqual(['cseq-method']);
  });

  it('passes responses to the client transaction by branch and CSeq method', () => {
    const clock = new VirtualClock();
    const { l } = layer(clock);
    const req = request('OPTIONS', 'z9hG4bKcli');
    const got: number[] = [];
    l.request(req, from, { onResponse: (m) => got.push(m.status) });
    l.receive(createResponse(req, 200, 'OK', { toTag: 'q' }), from);
    l.receive(createResponse(req, 200, 'OK', { toTag: 'q' }), from);
    expect(got).toEqual([200]);
    expect(l.clientCount).toBe(1);
    clock.advance(5_000);
    expect(l.clientCount).toBe(0);
  });
});

describe('TransactionLayer limits', () => {
  it('answers 503 once the server transaction table is full', () => {
    const sent: SipMessage[] = [];
    const l = new TransactionLayer({
      clock: new VirtualClock(),
      maxServerTransactions: 2,
      send: (m) => sent.push(m),
      onRequest: () => {},
    });
    const from: Endpoint = { transport: 'UDP', address: '192.0.2.1', port: 5060 };
    for (const b of ['z9hG4bK1', 'z9hG4bK2', 'z9hG4bK3']) l.receive(request('OPTIONS', b), from);
    expect(l.serverCount).toBe(2);
    expect(sent.map((m) => m.status)).toEqual([503]);
    expect(l.counters.overloaded).toBe(1);
  });
});
