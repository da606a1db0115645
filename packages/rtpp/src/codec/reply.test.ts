import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RtppProtocolError } from '../errors.js';
import type { RtppReply } from '../types.js';
import { parseReply, portReply, serializeReply } from './reply.js';

describe('parseReply', () => {
  it.each<[string, Parameters<typeof parseReply>[1], RtppReply]>([
    ['20040107\n', 'V', { kind: 'value', value: '20040107' }],
    ['1\n', 'VF', { kind: 'value', value: '1' }],
    ['0', 'D', { kind: 'value', value: '0' }],
    ['E50\n', 'D', { kind: 'error', code: 50 }],
    ['E5', 'V', { kind: 'error', code: 5 }],
    [
      '35000 203.0.113.5\n',
      'U',
      { kind: 'port', port: 35000, address: '203.0.113.5', ipv6: false, subResults: [] },
    ],
    [
      '35004 2001:db8::5 6\n',
      'U',
      { kind: 'port', port: 35004, address: '2001:db8::5', ipv6: true, subResults: [] },
    ],
    ['35000\n', 'L', { kind: 'port', port: 35000, ipv6: false, subResults: [] }],
    ['0\n', 'L', { kind: 'port', port: 0, ipv6: false, subResults: [] }],
    // rtpengine --listen-udp: a third field, the address family
    [
      '37000 127.0.0.1 4\n',
      'U',
      { kind: 'port', port: 37000, address: '127.0.0.1', ipv6: false, family: '4', subResults: [] },
    ],
    [
      '35000 127.0.0.1 && 0 && -1\n',
      'U',
      { kind: 'port', port: 35000, address: '127.0.0.1', ipv6: false, subResults: ['0', '-1'] },
    ],
    [
      '57 120 118 238 0\n',
      'Q',
      { kind: 'list', values: ['57', '120', '118', '238', '0'], subResults: [] },
    ],
    [
      'nsess_created=42 total_duration=123.500000\n',
      'G',
      {
        kind: 'list',
        values: ['42', '123.500000'],
        names: ['nsess_created', 'total_duration'],
        subResults: [],
      },
    ],
    ['\n', 'G', { kind: 'list', values: [], subResults: [] }],
    [
      '35010 127.0.0.1\n',
      'C',
      { kind: 'port', port: 35010, address: '127.0.0.1', ipv6: false, subResults: [] },
    ],
    ['0\n', 'C', { kind: 'value', value: '0' }],
  ])('%j as a reply to %s', (text, kind, expected) => {
    expect(parseReply(text, kind)).toEqual(expected);
  });

  it('reads the five I lines, and Il', () => {
    const text =
      'sessions created: 42\nactive sessions: 3\nactive streams: 6\npackets received: 1000\npackets transmitted: 990\naverage load: 0.000000\n';
    const r = parseReply(text, 'I');
    expect(r).toEqual({
      kind: 'info',
      entries: [
        ['sessions created', '42'],
        ['active sessions', '3'],
        ['active streams', '6'],
        ['packets received', '1000'],
        ['packets transmitted', '990'],
        ['average load', '0.000000'],
      ],
    });
    expect(serializeReply(r)).toBe(text);
  });

  it('guesses the shape when the command is not known', () => {
    expect(parseReply('20040107\n')).toEqual({ kind: 'value', value: '20040107' });
    expect(parseReply('35000 127.0.0.1\n').kind).toBe('port');
    expect(parseReply('sessions created: 1\nactive sessions: 0\n').kind).toBe('info');
    expect(parseReply('a=1 b=2').kind).toBe('list');
    expect(parseReply('E8').kind).toBe('error');
  });

  it.each<[string, Parameters<typeof parseReply>[1]]>([
    ['', 'U'],
    ['hello world', 'U'],
    ['99999 127.0.0.1', 'U'],
    ['1 2 3 4', 'L'],
    ['two words', 'V'],
    ['', 'D'],
    ['nocolon\n', 'I'],
    ['bin\u0001ary', 'V'],
  ])('throws RtppProtocolError on garbage %j for %s', (text, kind) => {
    expect(() => parseReply(text, kind)).toThrow(RtppProtocolError);
  });

  it('serialises every shape with a trailing newline', () => {
    expect(serializeReply(portReply(35000, '127.0.0.1'))).toBe('35000 127.0.0.1\n');
    expect(serializeReply(portReply(35000, '::1'))).toBe('35000 ::1 6\n');
    expect(serializeReply(portReply(0))).toBe('0\n');
    expect(serializeReply({ kind: 'error', code: 50 })).toBe('E50\n');
    expect(serializeReply({ kind: 'list', values: [], subResults: [] })).toBe('\n');
    expect(
      serializeReply({ kind: 'list', values: ['1', '2'], names: ['a', 'b'], subResults: [] }),
    ).toBe('a=1 b=2\n');
  });

  it('parse ∘ serialise is the identity on port, error, value and list replies', () => {
    const reply = fc.oneof(
      fc.record({
        kind: fc.constant('port' as const),
        port: fc.integer({ min: 0, max: 65535 }),
        address: fc.ipV4(),
        ipv6: fc.constant(false),
        subResults: fc.array(fc.constantFrom('0', '-1'), { maxLength: 3 }),
      }),
      fc.record({ kind: fc.constant('error' as const), code: fc.integer({ min: 0, max: 999 }) }),
      fc.record({
        kind: fc.constant('list' as const),
        values: fc.array(fc.stringMatching(/^[0-9.]{1,8}$/), { maxLength: 6 }),
        subResults: fc.constant([]),
      }),
    );
    fc.assert(
      fc.property(reply, (r) => {
        const kind = r.kind === 'port' ? 'U' : r.kind === 'list' ? 'G' : 'D';
        expect(parseReply(serializeReply(r), kind)).toEqual(r);
      }),
    );
  });
});
