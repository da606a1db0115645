import { describe, expect, it } from 'vitest';
import { req } from '../../test/support/request.js';
import { checkProxyRequest } from './validation.js';

describe('request validation (RFC 3261 §16.3)', () => {
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
});
