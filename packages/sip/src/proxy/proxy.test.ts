import { describe, expect, it } from 'vitest';
import { parseMessage, type SipMessage } from '../message/message.js';
import { isSipUri, type Uri } from '../message/uri.js';
import {
  addRecordRoute,
  checkProxyRequest,
  decrementMaxForwards,
  fixTopVia,
  forwardStateless,
  nextHopUri,
  preprocessRoute,
  responseDestination,
  statelessBranch,
} from './proxy.js';

function req(
  extra: string,
  opts: { ruri?: string; method?: string; via?: string } = {},
): SipMessage {
  const method = opts.method ?? 'INVITE';
  return parseMessage(
    Buffer.from(
      `${method} ${opts.ruri ?? 'sip:bob@biloxi.example.com'} SIP/2.0\r\nVia: ${opts.via ?? 'SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKaaa;rport'}\r\nFrom: <sip:alice@example.com>;tag=f\r\nTo: <sip:bob@biloxi.example.com>\r\nCall-ID: cid\r\nCSeq: 1 ${method}\r\n${extra}Content-Length: 0\r\n\r\n`,
    ),
  );
}

const isUs = (u: Uri): boolean => isSipUri(u) && u.host === 'proxy.example.com';

describe('proxy core helpers (RFC 3261 §16)', () => {
  it('validates: 483 at Max-Forwards 0, 416 for unknown schemes, 420 for Proxy-Require, 400 with reason', () => {
    expect(checkProxyRequest(req('Max-Forwards: 0\r\n'))).toMatchObject({ status: 483 });
    expect(checkProxyRequest(req('', { ruri: 'soap.beep://192.0.2.103:3002' }))).toMatchObject({
      status: 416,
    });
    expect(checkProxyRequest(req('Proxy-Require: foo, path\r\n'), ['path'])).toMatchObject({
      status: 420,
      headers: [['Unsupported', 'foo']],
    });
    expect(checkProxyRequest(req('CSeq: 2 INVITE\r\n'))).toMatchObject({
      status: 400,
      reason: 'Bad Request (header-repeated)',
    });
    expect(checkProxyRequest(req('Max-Forwards: 5\r\n'))).toBeUndefined();
  });

  it('decrements Max-Forwards or adds 70', () => {
    const a = req('Max-Forwards: 5\r\n');
    expect(decrementMaxForwards(a)).toBe(4);
    expect(a.header('max-forwards')).toBe('4');
    const b = req('');
    expect(decrementMaxForwards(b)).toBe(70);
  });

  it('pops a top Route that names us (loose routing)', () => {
    const r = req('Route: <sip:proxy.example.com;lr>, <sip:next.example.com;lr>\r\n');
    expect(preprocessRoute(r, isUs)).toEqual({ strictFixed: false, poppedLocal: true });
    expect(r.values('route')).toEqual(['<sip:next.example.com;lr>']);
    const hop = nextHopUri(r);
    expect(isSipUri(hop) && hop.host).toBe('next.example.com');
  });

  it('undoes a strict router that put our URI in the Request-URI (§16.4)', () => {
    const r = req('Route: <sip:next.example.com;lr>\r\nRoute: <sip:bob@biloxi.example.com>\r\n', {
      ruri: 'sip:proxy.example.com;lr',
    });
    expect(preprocessRoute(r, isUs).strictFixed).toBe(true);
    expect(r.requestUri).toBe('sip:bob@biloxi.example.com');
    expect(r.values('route')).toEqual(['<sip:next.example.com;lr>']);
  });

  it('sends to a strict next hop the RFC 2543 way (§16.6 step 7)', () => {
    const r = req('Route: <sip:strict.example.com>\r\n');
    nextHopUri(r);
    expect(r.requestUri).toBe('sip:strict.example.com');
    expect(r.values('route')).toEqual(['<sip:bob@biloxi.example.com>']);
  });

  it('record-routes once, or twice when the interfaces differ (RFC 5658)', () => {
    const r = req('');
    addRecordRoute(r, 'sip:10.0.0.1;lr;transport=udp', 'sip:192.0.2.1;lr;transport=tcp');
    expect(r.values('record-route')).toEqual([
      '<sip:192.0.2.1;lr;transport=tcp>',
      '<sip:10.0.0.1;lr;transport=udp>',
    ]);
  });

  it('fills received and rport (RFC 3581), touching only the top Via', () => {
    const r = req('Via: SIP/2.0/UDP other;branch=z9hG4bKx\r\n');
    fixTopVia(r, '203.0.113.9', 40000);
    const [top, second] = r.vias();
    expect(top).toMatchObject({ received: '203.0.113.9', rport: 40000 });
    expect(second?.received).toBeUndefined();
    expect(responseDestination(top!)).toEqual({
      transport: 'UDP',
      address: '203.0.113.9',
      port: 40000,
    });
    const same = req('', { via: 'SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKaaa' });
    fixTopVia(same, '10.0.0.5', 5060);
    expect(same.untouched).toBe(true);
    const v6 = req('', { via: 'SIP/2.0/TLS [2001:db8::1];branch=z9hG4bKaaa' });
    fixTopVia(v6, '2001:db8::2', 5061);
    expect(v6.topVia()?.received).toBe('[2001:db8::2]');
    expect(responseDestination(v6.topVia()!)).toEqual({
      transport: 'TLS',
      address: '2001:db8::2',
      port: 5061,
    });
  });

  it('computes a stateless branch that is stable across retransmissions and shared by CANCEL', () => {
    const inv = req('');
    expect(statelessBranch(inv)).toBe(statelessBranch(req('')));
    expect(statelessBranch(req('', { method: 'CANCEL' }))).toBe(statelessBranch(inv));
    expect(statelessBranch(req('', { via: 'SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKbbb' }))).not.toBe(
      statelessBranch(inv),
    );
    const old = (): SipMessage => req('', { via: 'SIP/2.0/UDP 10.0.0.5' });
    expect(statelessBranch(old())).toBe(statelessBranch(old()));
    expect(statelessBranch(inv).startsWith('z9hG4bK')).toBe(true);
  });

  it('forwards statelessly: our Via on top, received on the sender Via, Max-Forwards down', () => {
    const out = parseMessage(
      forwardStateless(
        req('Max-Forwards: 70\r\n'),
        { transport: 'UDP', host: '192.0.2.1', port: 5060 },
        { address: '198.51.100.7', port: 5062 },
      ),
    );
    const [ours, theirs] = out.vias();
    expect(ours?.host).toBe('192.0.2.1');
    expect(theirs).toMatchObject({ received: '198.51.100.7', rport: 5062 });
    expect(out.maxForwards()).toBe(69);
  });
});
