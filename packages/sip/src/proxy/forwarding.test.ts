import { describe, expect, it } from 'vitest';
import { req } from '../../test/support/request.js';
import { parseMessage } from '../message/parse-message.js';
import { isSipUri, type Uri } from '../message/uri.js';
import {
  addRecordRoute,
  decrementMaxForwards,
  forwardStateless,
  nextHopUri,
  preprocessRoute,
} from './forwarding.js';

const isUs = (u: Uri): boolean => isSipUri(u) && u.host === 'proxy.example.com';

describe('forwarding edits (RFC 3261 §16.4–16.6, §16.11)', () => {
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
