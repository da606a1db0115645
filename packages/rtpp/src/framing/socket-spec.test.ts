import { describe, expect, it } from 'vitest';
import { RtppArgumentError } from '../errors.js';
import { formatSocketSpec, parseSocketSpec } from './socket-spec.js';

describe('parseSocketSpec', () => {
  it.each([
    ['udp:127.0.0.1:22222', { transport: 'udp', host: '127.0.0.1', port: 22222 }],
    ['udp:127.0.0.1', { transport: 'udp', host: '127.0.0.1', port: 22222 }],
    ['UDP:10.0.0.1:7722', { transport: 'udp', host: '10.0.0.1', port: 7722 }],
    ['udp:*:9000', { transport: 'udp', host: '0.0.0.0', port: 9000 }],
    ['udp:localhost:0', { transport: 'udp', host: 'localhost', port: 0 }],
    ['udp6:[::1]:5000', { transport: 'udp6', host: '::1', port: 5000 }],
    ['udp6:[::1]', { transport: 'udp6', host: '::1', port: 22222 }],
    ['udp6:::1:5000', { transport: 'udp6', host: '::1', port: 5000 }],
    ['udp6:fe80::7', { transport: 'udp6', host: 'fe80::7', port: 22222 }],
    ['udp6:*:1', { transport: 'udp6', host: '::', port: 1 }],
    ['tcp:127.0.0.1:22222', { transport: 'tcp', host: '127.0.0.1', port: 22222 }],
    ['tcp6:[2001:db8::1]:80', { transport: 'tcp6', host: '2001:db8::1', port: 80 }],
    ['unix:/var/run/rtpproxy.sock', { transport: 'unix', path: '/var/run/rtpproxy.sock' }],
    ['/var/run/rtpproxy.sock', { transport: 'unix', path: '/var/run/rtpproxy.sock' }],
    ['cunix:/tmp/x.sock', { transport: 'cunix', path: '/tmp/x.sock' }],
  ])('%s', (text, expected) => {
    expect(parseSocketSpec(text)).toEqual(expected);
  });

  it.each([
    ['', 'empty'],
    ['sctp:1.2.3.4:5', 'unknown transport'],
    ['udp:', 'missing host'],
    ['udp:1.2.3.4:99999', 'out of range'],
    ['udp:1.2.3.4:abc', 'not a number'],
    ['udp:::1', 'IPv6 address'],
    ['udp6:127.0.0.1', 'IPv4 address'],
    ['udp6:[::1', 'unterminated'],
    ['udp6:[::1]x', 'unexpected'],
    ['udp6:[1.2.3.4]:5', 'not an IPv6'],
    ['unix:', 'missing path'],
    ['cunix:', 'missing path'],
    ['udp:bad host:1', 'blanks'],
    ['udp:-x-:1', 'not a host'],
    ['localhost', 'missing transport prefix'],
  ])('rejects %j (%s)', (text, why) => {
    expect(() => parseSocketSpec(text)).toThrow(RtppArgumentError);
    expect(() => parseSocketSpec(text)).toThrow(why);
  });

  it('formats back, bracketing IPv6 hosts', () => {
    for (const s of ['udp:127.0.0.1:1', 'udp6:[::1]:2', 'tcp:h.example:3', 'cunix:/a', 'unix:/b']) {
      expect(formatSocketSpec(parseSocketSpec(s))).toBe(s);
    }
  });
});
