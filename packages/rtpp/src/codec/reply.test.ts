import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RtppArgumentError, RtppProtocolError } from '../errors.js';
import type { RtppCommandKind, RtppReply } from '../types.js';
import { parseCommand } from './parse-command.js';
import {
  errorReply,
  infoReply,
  listReply,
  MAX_REPLY_LENGTH,
  parseReply,
  portReply,
  serializeReply,
  valueReply,
} from './reply.js';

const fixture = <T>(name: string): T =>
  JSON.parse(
    readFileSync(new URL(`../../test/fixtures/codec/${name}`, import.meta.url), 'utf8'),
  ) as T;

describe('parseReply: golden vectors (docs/protocols/rtpproxy.md §1.5, §2, §6.4)', () => {
  interface Vector {
    text: string;
    kind: RtppCommandKind;
    reply: RtppReply;
    source: string;
    canonical: string;
  }
  const vectors = fixture<Vector[]>('replies.json');

  it.each(vectors.map((v) => [v.source, v.kind, v] as const))('%s (%s)', (_s, kind, v) => {
    const reply = parseReply(v.text, kind);
    expect(reply).toEqual(v.reply);
    expect(serializeReply(reply)).toBe(v.canonical);
  });

  it('reads the docs/protocols/rtpproxy.md §1.5 exchanges, command and reply together', () => {
    const exchanges: [string, string][] = [
      ['V', '20040107\n'],
      ['VF 20081224', '0\n'],
      ['UAc0,8,101Z20 c1@h 192.0.2.10 40000 ft;1', '35000 203.0.113.5\n'],
      ['L c1@h 198.51.100.7 50000 ft;1 tt;1', '35002 203.0.113.5\n'],
      ['U6 c2@h 2001:db8::9 40000 fx;1', '35004 2001:db8::5 6\n'],
      ['L nosuch 198.51.100.7 5000 a b', '0\n'],
      ['Q c1@h ft;1 tt;1', '57 120 118 238 0\n'],
      ['D c1@h ft tt', '0\n'],
      ['D c1@h ft', 'E50\n'],
      ['Gv nsess_created total_duration', 'nsess_created=42 total_duration=123.500000\n'],
    ];
    const kinds = exchanges.map(([cmd, reply]) => {
      const parsed = parseCommand(cmd);
      if (!parsed.ok) throw new Error(cmd);
      const r = parseReply(reply, parsed.command.kind);
      expect(serializeReply(r)).toBe(reply);
      return r.kind;
    });
    expect(kinds).toEqual([
      'value',
      'value',
      'port',
      'port',
      'port',
      'port',
      'list',
      'value',
      'error',
      'list',
    ]);
  });

  it('the Kamailio startup probe answers (docs/protocols/rtpproxy.md §6.1)', () => {
    expect(parseReply('20040107\n', 'V')).toEqual(valueReply('20040107'));
    expect(parseReply('1\n', 'VF')).toEqual(valueReply(1));
  });
});

describe('parseReply: garbage', () => {
  const vectors =
    fixture<{ text: string; kind: RtppCommandKind; why: string }[]>('reply-garbage.json');
  it.each(
    vectors.map((v) => [v.why, v.kind, v.text] as const),
  )('throws RtppProtocolError: %s (%s)', (_why, kind, text) => {
    expect(() => parseReply(text, kind)).toThrow(RtppProtocolError);
  });

  it('names the problem and shows a bounded excerpt', () => {
    try {
      parseReply(`hello ${'x'.repeat(500)}`, 'U');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(RtppProtocolError);
      const err = e as RtppProtocolError;
      expect(err.code).toBe('RTPP_PROTOCOL');
      expect(err.message).toContain('not a port reply');
      expect(err.message.length).toBeLessThan(150);
    }
    expect(() => parseReply('x'.repeat(MAX_REPLY_LENGTH + 1))).toThrow(/too long/);
  });
});

describe('parseReply without the command kind', () => {
  it.each<[string, RtppReply['kind']]>([
    ['20040107\n', 'value'],
    ['0\n', 'value'],
    ['E8\n', 'error'],
    ['35000 127.0.0.1\n', 'port'],
    ['35004 2001:db8::5 6\n', 'port'],
    ['37000 127.0.0.1 4\n', 'port'],
    ['35000 && 0\n', 'port'],
    ['sessions created: 1\nactive sessions: 0\n', 'info'],
    ['average load: 0.000000\n', 'info'],
    ['a=1 b=2\n', 'list'],
    ['57 120 118 238 0\n', 'list'],
    ['\n', 'list'],
    ['123.500000\n', 'value'],
  ])('%j is a %s reply', (text, kind) => {
    const r = parseReply(text);
    expect(r.kind).toBe(kind);
    expect(serializeReply(r)).toBe(text);
  });

  it.each([
    'hello',
    'hello world',
    '35000 127.0.0.1 x y',
    'a=1 2',
    '&& 0',
    '1:2',
  ])('throws on %j', (text) => {
    expect(() => parseReply(text)).toThrow(RtppProtocolError);
  });
});

describe('serializeReply and the constructors', () => {
  it('ends every shape with a newline', () => {
    expect(serializeReply(portReply(35000, '127.0.0.1'))).toBe('35000 127.0.0.1\n');
    expect(serializeReply(portReply(35000, '::1'))).toBe('35000 ::1 6\n');
    expect(serializeReply(portReply(37000, '127.0.0.1', { family: '4' }))).toBe(
      '37000 127.0.0.1 4\n',
    );
    expect(serializeReply(portReply(35000, '1.2.3.4', { subResults: ['0', '-1'] }))).toBe(
      '35000 1.2.3.4 && 0 && -1\n',
    );
    expect(serializeReply(portReply(0))).toBe('0\n');
    expect(serializeReply(errorReply(50))).toBe('E50\n');
    expect(serializeReply(valueReply('20040107'))).toBe('20040107\n');
    expect(serializeReply(listReply([]))).toBe('\n');
    expect(serializeReply(listReply([1, 2], ['a', 'b']))).toBe('a=1 b=2\n');
    expect(serializeReply(listReply([57, 0], undefined, ['0']))).toBe('57 0 && 0\n');
    expect(
      serializeReply(
        infoReply([
          ['sessions created', 2],
          ['active sessions', 1],
        ]),
      ),
    ).toBe('sessions created: 2\nactive sessions: 1\n');
  });
});

// ---------------------------------------------------------------------------------------------
// properties

const num = fc.oneof(
  fc.nat().map(String),
  fc.integer({ min: -5, max: -1 }).map(String),
  fc.double({ min: 0, max: 1e6, noNaN: true }).map((d) => d.toFixed(6)),
);
const word = fc.stringMatching(/^[a-z_][a-z0-9_]{0,12}$/);
const address = fc.oneof(fc.ipV4(), fc.constantFrom('2001:db8::5', '::1', 'media.example.net'));
const subResult = fc.oneof(
  fc.constantFrom('0', '-1'),
  fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.ipV4()).map(([p, a]) => `${p} ${a}`),
);

const replyArb: fc.Arbitrary<[RtppReply, RtppCommandKind]> = fc.oneof(
  fc
    .record({
      port: fc.integer({ min: 0, max: 65535 }),
      address: fc.option(address, { nil: undefined }),
      third: fc.constantFrom('none', '6', '4'),
      subResults: fc.array(subResult, { maxLength: 3 }),
    })
    .map(({ port, address: a, third, subResults }) => {
      const r = portReply(port, a, {
        ipv6: a !== undefined && third === '6',
        ...(a !== undefined && third === '4' ? { family: '4' } : {}),
        subResults,
      });
      return [r, 'U'] as [RtppReply, RtppCommandKind];
    }),
  fc.nat(999).map((c) => [errorReply(c), 'D'] as [RtppReply, RtppCommandKind]),
  num.map((v) => [valueReply(v), 'V'] as [RtppReply, RtppCommandKind]),
  fc
    .array(
      fc.tuple(
        fc.stringMatching(/^[a-z][a-z ]{0,20}[a-z]$/).filter((k) => !k.includes('  ')),
        fc.oneof(num, fc.constant('')),
      ),
      { minLength: 1, maxLength: 6 },
    )
    .map((e) => [infoReply(e), 'I'] as [RtppReply, RtppCommandKind]),
  fc
    .tuple(
      fc.array(num, { maxLength: 8 }),
      fc.boolean(),
      fc.array(fc.constantFrom('0', '-1'), { maxLength: 2 }),
    )
    .chain(([values, named, subs]) =>
      fc.array(word, { minLength: values.length, maxLength: values.length }).map((names) => {
        const r = listReply(values, named && values.length > 0 ? names : undefined, subs);
        return [r, values.length === 0 ? 'G' : 'Q'] as [RtppReply, RtppCommandKind];
      }),
    ),
);

describe('properties', () => {
  it('parse ∘ serialise is the identity on replies of every shape', () => {
    fc.assert(
      fc.property(replyArb, ([r, kind]) => {
        const text = serializeReply(r);
        expect(text.endsWith('\n')).toBe(true);
        expect(parseReply(text, kind)).toEqual(r);
        // and with the newline already stripped by the framing
        expect(parseReply(text.slice(0, -1), kind)).toEqual(r);
      }),
      { numRuns: 2000 },
    );
  });

  it('serialise ∘ parse is the identity on canonical reply text', () => {
    fc.assert(
      fc.property(replyArb, ([r, kind]) => {
        const text = serializeReply(r);
        expect(serializeReply(parseReply(text, kind))).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('a hand-made reply with any field values is either refused or reads back as itself', () => {
    const anyText = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('', ' ', '&&', '0 && 1', 'a  b', ' 0', '1\n', '7', '12.5', 'x=y', '\u00e9'),
    );
    const anyReply: fc.Arbitrary<[RtppReply, RtppCommandKind]> = fc.oneof(
      fc
        .record(
          {
            port: fc.oneof(
              fc.integer({ min: -1, max: 70000 }),
              fc.double().map((d) => d + 0),
            ),
            address: fc.oneof(fc.ipV4(), anyText),
            ipv6: fc.boolean(),
            family: fc.oneof(fc.constant('4'), anyText),
            subResults: fc.array(fc.oneof(fc.constantFrom('0', '-1', '35002 1.2.3.4'), anyText), {
              maxLength: 2,
            }),
          },
          { requiredKeys: ['port', 'ipv6', 'subResults'] },
        )
        .map((r): [RtppReply, RtppCommandKind] => [{ kind: 'port', ...r } as RtppReply, 'U']),
      fc
        .oneof(
          fc.integer({ min: -2, max: 1000 }),
          fc.double().map((d) => d + 0),
        )
        .map((code): [RtppReply, RtppCommandKind] => [{ kind: 'error', code }, 'D']),
      fc
        .array(fc.tuple(anyText, anyText), { maxLength: 3 })
        .map((entries): [RtppReply, RtppCommandKind] => [{ kind: 'info', entries }, 'I']),
      fc
        .record(
          {
            values: fc.array(anyText, { maxLength: 3 }),
            names: fc.array(anyText, { maxLength: 3 }),
            subResults: fc.array(anyText, { maxLength: 2 }),
          },
          { requiredKeys: ['values', 'subResults'] },
        )
        .map((r): [RtppReply, RtppCommandKind] => [{ kind: 'list', ...r } as RtppReply, 'G']),
    );
    /**
     * What the reply means on the wire: no address, no IPv6 flag or family; IPv6, no family; an
     * empty list, no names.
     */
    const meaning = (r: RtppReply): RtppReply => {
      if (r.kind === 'list' && r.values.length === 0) {
        return { kind: 'list', values: [], subResults: r.subResults };
      }
      if (r.kind !== 'port') return r;
      const { address, family, ipv6, ...rest } = r;
      if (address === undefined) return { ...rest, ipv6: false };
      if (ipv6) return { ...rest, address, ipv6 };
      return family === undefined ? { ...rest, address, ipv6 } : { ...rest, address, ipv6, family };
    };
    fc.assert(
      fc.property(anyReply, ([reply, kind]) => {
        let text: string;
        try {
          text = serializeReply(reply);
        } catch (e) {
          expect(e).toBeInstanceOf(RtppArgumentError);
          return;
        }
        expect(parseReply(text, kind)).toEqual(meaning(reply));
      }),
      { numRuns: 3000 },
    );
  });

  it('random text either parses or throws RtppProtocolError, never anything else', () => {
    const kinds: (RtppCommandKind | undefined)[] = ['U', 'L', 'D', 'V', 'VF', 'I', 'G', 'Q', 'C'];
    fc.assert(
      fc.property(
        fc.string({ maxLength: 120 }),
        fc.constantFrom(...kinds, undefined),
        (text, kind) => {
          try {
            const r = parseReply(text, kind);
            expect(typeof serializeReply(r)).toBe('string');
          } catch (e) {
            expect(e).toBeInstanceOf(RtppProtocolError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('error codes', () => {
  it('describes every code the parser produces and leaves unknown ones bare', async () => {
    const { describeRtppError, RTPP_ERROR_TEXT } = await import('./codes.js');
    for (const c of [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 35]) {
      expect(RTPP_ERROR_TEXT[c], `E${c}`).toBeDefined();
    }
    expect(describeRtppError(50)).toBe('E50 (session not found)');
    expect(describeRtppError(4242)).toBe('E4242');
  });
});

describe('serializeReply refuses replies that would not read back', () => {
  it.each<[string, RtppReply]>([
    ['port out of range', portReply(70000)],
    ['fractional port', portReply(1.5)],
    ['address with a blank', portReply(35000, '1.2.3.4 x')],
    ['address with a line break', portReply(35000, '1.2.3.4\nE0')],
    ['empty sub-result', portReply(35000, '1.2.3.4', { subResults: [''] })],
    ['sub-result with a line break', portReply(35000, '1.2.3.4', { subResults: ['0\n1'] })],
    // '6' as a third token is the IPv6 flag: an IPv4 reply with that family would read back
    // as IPv6 (found by the hand-made reply property, seed 4 among 28 of 1,200)
    ['family 6 without the IPv6 flag', portReply(0, '0.0.0.0', { ipv6: false, family: '6' })],
    ['negative error code', errorReply(-1)],
    ['empty value', valueReply('')],
    ['value with a blank', valueReply('1 2')],
    ['value with a line break', valueReply('0\n')],
    ['info without lines', infoReply([])],
    ['info key with a colon', infoReply([['a:b', '1']])],
    ['info value with a line break', infoReply([['a', '1\nb: 2']])],
    ['list value with a blank', listReply(['1 2'])],
    ['list value with =', listReply(['a=1'])],
    ['names and values of different lengths', listReply([1, 2], ['a'])],
    ['name with =', listReply([1], ['a=b'])],
    ['unknown kind', { kind: 'nonsense' } as unknown as RtppReply],
  ])('%s', (_why, reply) => {
    expect(() => serializeReply(reply)).toThrow(RtppArgumentError);
  });
});
