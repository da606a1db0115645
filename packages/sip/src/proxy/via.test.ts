import { describe, expect, it } from 'vitest';
import { req } from '../../test/support/request.js';
import type { SipMessage } from '../message/message.js';
import { fixTopVia, responseDestination, statelessBranch } from './via.js';

describe('Via edits (RFC 3261 §16.6, §18.2, RFC 3581)', () => {
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
});
