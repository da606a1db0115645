import { describe, expect, it } from 'vitest';
import { inetAton, remoteAddressStatus } from './address.js';

describe('inetAton (the IPv4 forms getaddrinfo accepts as numeric hosts)', () => {
  it.each<[string, number]>([
    ['1.2.3.4', 0x01020304],
    ['255.255.255.255', 0xffffffff],
    ['127.1', 0x7f000001],
    ['10.1.2', 0x0a010002],
    ['3232235777', 0xc0a80101],
    ['0x7f.0.0.1', 0x7f000001],
    ['0177.0.0.1', 0x7f000001],
    ['0.0.0.0', 0],
  ])('%s', (text, value) => {
    expect(inetAton(text)).toBe(value);
  });

  it.each([
    '',
    '1.2.3.4.5',
    '256.1.1.1',
    '1..2.3',
    '1.2.3.',
    '.1.2.3',
    '08.1.1.1',
    '0x',
    'a.b.c.d',
    '1.2.3.4 ',
    '4294967296',
    '1.16777216',
  ])('rejects %j', (text) => {
    expect(inetAton(text)).toBe(-1);
  });
});

describe('remoteAddressStatus (rtpproxy IS_IPSTR_VALID + resolve)', () => {
  it.each<[string, string, boolean, ReturnType<typeof remoteAddressStatus>]>([
    ['192.0.2.1', '40000', false, 'ok'],
    ['0.0.0.0', '40000', false, 'onhold'],
    ['2001:db8::9', '40000', true, 'ok'],
    ['::', '40000', true, 'onhold'],
    ['fe80::1%eth0', '5', true, 'ok'],
    ['::1', '5', false, 'ignored'], // 3 characters cannot be IPv4
    ['x', '5', true, 'ignored'],
    ['a-very-long-host-name.example.com', 'x', false, 'ignored'],
    ['999.1.1.1', '5', false, 'invalid'],
    ['2001:db8::9', '5', false, 'invalid'],
    ['192.0.2.1', '5', true, 'invalid'],
    ['192.0.2.1', 'http', false, 'invalid'],
    ['192.0.2.1', '65536', false, 'invalid'],
    ['192.0.2.1', '0', false, 'ok'],
    ['fe80::1%', '5', true, 'invalid'],
  ])('%s port %s (6: %s) is %s', (ip, port, v6, status) => {
    expect(remoteAddressStatus(ip, port, v6)).toBe(status);
  });
});
