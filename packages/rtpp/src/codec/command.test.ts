import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RtppArgumentError } from '../errors.js';
import type { RtppCommand, RtppSubcommand, UpdateCommand, UpdateModifiers } from '../types.js';
import {
  baseTag,
  copyCommand,
  deleteCommand,
  flushCommand,
  infoCommand,
  isSessionCommand,
  lookupCommand,
  mediaNumber,
  mediaTag,
  noRecordCommand,
  playCommand,
  queryCommand,
  recordCommand,
  sessionKey,
  statsCommand,
  stopPlayCommand,
  updateCommand,
  versionCommand,
  versionFeatureCommand,
  withKind,
  withLocalAddress,
  withModifiers,
  withNotify,
  withoutNotify,
  withSubcommands,
  withTags,
} from './build.js';
import { EMPTY_MODIFIERS } from './modifiers.js';
import { MAX_COMMAND_LENGTH, parseCommand, strictUpdateCheck } from './parse-command.js';
import { serializeCommand } from './serialize-command.js';
import { MAX_TOKENS } from './tokenize.js';

const fixture = <T>(name: string): T =>
  JSON.parse(
    readFileSync(new URL(`../../test/fixtures/codec/${name}`, import.meta.url), 'utf8'),
  ) as T;

function ok(text: string): RtppCommand {
  const r = parseCommand(text);
  if (!r.ok) {
    throw new Error(
      `expected ${JSON.stringify(text)} to parse, got E${r.error.code} (${r.error.reason})`,
    );
  }
  return r.command;
}
function code(text: string, options?: Parameters<typeof parseCommand>[1]): number {
  const r = parseCommand(text, options);
  if (r.ok) throw new Error(`expected ${JSON.stringify(text)} to fail`);
  return r.error.code;
}
const strip = (c: RtppCommand): RtppCommand => {
  const { raw: _r, ...rest } = c;
  return rest as RtppCommand;
};
/** What a U/L reads back as: a codec number -0 is written `0`, the same number to the codec. */
const codecsAsSent = (c: UpdateCommand): UpdateCommand =>
  c.mods.codecs === undefined
    ? c
    : { ...c, mods: { ...c.mods, codecs: c.mods.codecs.map((n) => n + 0) } };
/** The command as text, or undefined when the serialiser refuses it (with RtppArgumentError). */
function serializedOrRefused(cmd: RtppCommand): string | undefined {
  try {
    return serializeCommand(cmd);
  } catch (e) {
    expect(e).toBeInstanceOf(RtppArgumentError);
    return undefined;
  }
}

/** The fully canonical text: U/L modifiers rebuilt from `mods`, every other field as is. */
const canonical = (c: RtppCommand): string =>
  serializeCommand(c.kind === 'U' || c.kind === 'L' ? withModifiers(c, c.mods) : strip(c));

describe('parseCommand: what Kamailio and OpenSIPS send (docs/protocols/rtpproxy.md §6.1)', () => {
  const lines = readFileSync(
    new URL('../../test/fixtures/codec/commands.txt', import.meta.url),
    'utf8',
  )
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('has the captured lines', () => {
    expect(lines).toHaveLength(19);
  });

  it.each(lines)('%s parses and is forwarded byte for byte', (line) => {
    const cmd = ok(line);
    expect(cmd.raw).toBe(line);
    expect(serializeCommand(cmd)).toBe(line);
    // an edited copy keeps the client's modifier string and parses back to the same fields
    expect(serializeCommand(strip(cmd))).toBe(line);
    expect(strip(ok(serializeCommand(strip(cmd))))).toEqual(strip(cmd));
  });
});

describe('parseCommand: golden vectors (docs/protocols/rtpproxy.md §1.5, §2, §6.1)', () => {
  interface Vector {
    text: string;
    source: string;
    canonical: string;
    expect: Record<string, unknown>;
  }
  const vectors = fixture<Vector[]>('commands.json');

  it.each(vectors.map((v) => [v.source, v] as const))('%s', (_source, v) => {
    const cmd = ok(v.text);
    expect(cmd).toMatchObject(v.expect);
    if (!('raw' in v.expect)) expect(cmd.raw).toBe(v.text);
    // unchanged: forwarded as received
    expect(serializeCommand(cmd)).toBe(cmd.raw);
    // canonical text, which parses back to the same fields
    const text = canonical(cmd);
    expect(text).toBe(v.canonical);
    const again = ok(text);
    const { modifiers: _m1, ...a } = strip(again);
    const { modifiers: _m2, ...b } = strip(cmd);
    expect(a).toEqual(b);
  });

  it('reads a Kamailio offer field by field, with nothing left over', () => {
    expect(ok('Uc0 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1')).toEqual({
      kind: 'U',
      raw: 'Uc0 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1',
      modifiers: 'c0',
      mods: { ...EMPTY_MODIFIERS, codecs: [0] },
      callId: '1-9094@127.0.0.1',
      remoteIp: '127.0.0.1',
      remotePort: '6004',
      fromTag: '9094SIPpTag001;1',
      subcommands: [],
    });
  });
});

describe('parseCommand: every parse-time error (docs/protocols/rtpproxy.md §2.10)', () => {
  const vectors = fixture<{ text: string; code: number; why: string }[]>('command-errors.json');

  it('covers every parse-time code', () => {
    const codes = new Set(vectors.map((v) => v.code));
    for (const c of [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]) {
      expect(codes.has(c), `E${c}`).toBe(true);
    }
  });

  it.each(vectors.map((v) => [v.code, v.why, v.text] as const))('E%i: %s', (c, _why, text) => {
    expect(code(text)).toBe(c);
  });

  it('never answers with a reason-less error', () => {
    for (const v of vectors) {
      const r = parseCommand(v.text);
      expect(r.ok ? '' : r.error.reason).not.toBe('');
    }
  });

  it('keeps unknown U/L modifiers, or answers E35 where rtpproxy would', () => {
    const cmd = ok('UXc0Tq c 1.2.3.4 5 ft') as UpdateCommand;
    expect(cmd.mods.unknown).toBe('XTq');
    expect(cmd.mods.codecs).toEqual([0]);
    const strict = strictUpdateCheck(cmd);
    expect(strict.ok ? 0 : strict.error.code).toBe(35);
    expect(strictUpdateCheck(ok('Uc0 c 1.2.3.4 5 ft')).ok).toBe(true);
    expect(serializeCommand(cmd)).toBe('UXc0Tq c 1.2.3.4 5 ft');
    // rtpproxy stops at the first bad letter: an unknown one before a bad ptime is E35
    expect(code('UXz0 c 1.2.3.4 5 ft', { unknownModifiers: 'reject' })).toBe(35);
    expect(code('Uz0X c 1.2.3.4 5 ft', { unknownModifiers: 'reject' })).toBe(13);
    // keeping unknown letters does not change the answer for an otherwise bad command
    expect(code('UXz0 c 1.2.3.4 5 ft')).toBe(35);
    expect(parseCommand('UAc0 c 1.2.3.4 5 ft', { unknownModifiers: 'reject' }).ok).toBe(true);
  });

  it('answers E11/E12 for any e/i when the server does not bridge', () => {
    expect(parseCommand('Uie c 1.2.3.4 5 ft').ok).toBe(true);
    expect(code('Uie c 1.2.3.4 5 ft', { bridging: false })).toBe(12);
    expect(code('UEi c 1.2.3.4 5 ft', { bridging: false })).toBe(11);
    expect(parseCommand('UAc0 c 1.2.3.4 5 ft', { bridging: false }).ok).toBe(true);
    expect(code('U c 1.2.3.4 5 ft tt && Le 1.2.3.4 5', { bridging: false })).toBe(3);
    expect(parseCommand('U c 1.2.3.4 5 ft tt && Le 1.2.3.4 5').ok).toBe(true);
  });

  it('bounds length and tokens, and the bounds are options', () => {
    expect(code('V'.padEnd(MAX_COMMAND_LENGTH + 1, ' '))).toBe(5);
    expect(parseCommand('V'.padEnd(MAX_COMMAND_LENGTH, ' ')).ok).toBe(true);
    expect(code('D c ft tt', { maxLength: 5 })).toBe(5);
    const g = (n: number) => `G${' x'.repeat(n - 1)}`;
    expect(parseCommand(g(MAX_TOKENS)).ok).toBe(true);
    expect(code(g(MAX_TOKENS + 1))).toBe(5);
    expect(code('D c ft tt', { maxTokens: 3 })).toBe(5);
    expect(parseCommand(g(29), { maxTokens: 40 }).ok).toBe(true);
    // nonsense limits fall back to rtpproxy's
    expect(code(g(MAX_TOKENS + 1), { maxTokens: Number.NaN })).toBe(5);
    expect(code(g(MAX_TOKENS + 1), { maxTokens: 0 })).toBe(5);
    expect(code(`V${' '.repeat(MAX_COMMAND_LENGTH)}`, { maxLength: Number.NaN })).toBe(5);
    expect(parseCommand(`U c 1.2.3.4 5 ft${' && D'.repeat(15)}`).ok).toBe(true);
  });
});

describe('serializeCommand', () => {
  it('forwards an unchanged command byte for byte, blanks included', () => {
    const text = 'U  c\t1.2.3.4 5 ft  unix:/n T%41';
    expect(serializeCommand(ok(text))).toBe(text);
  });

  it('URL-quotes notify tags so that they stay one token and decode back', () => {
    const cmd = updateCommand({
      callId: 'c',
      remoteIp: '1.2.3.4',
      remotePort: 5,
      fromTag: 'f',
      notify: { socket: 'unix:/x', tag: 'a b%+&&\n\u00e9' },
    });
    const text = serializeCommand(cmd);
    expect(text).toBe('U c 1.2.3.4 5 f unix:/x a%20b%25%2B%26%26%0A%E9');
    expect((ok(text) as UpdateCommand).notify?.tag).toBe('a b%+&&\n\u00e9');
    // beyond Latin-1: sent as UTF-8 bytes, which is what comes back from the wire
    const euro = serializeCommand(withNotify(cmd, { socket: 'unix:/x', tag: '€' }));
    expect(euro).toBe('U c 1.2.3.4 5 f unix:/x %E2%82%AC');
  });

  it('refuses hand-made commands that cannot be sent', () => {
    const base = { callId: 'c', remoteIp: '1.2.3.4', remotePort: 5, fromTag: 'f' };
    const bad: (() => string)[] = [
      () => serializeCommand(updateCommand({ ...base, callId: '' })),
      () => serializeCommand(updateCommand({ ...base, fromTag: 'a b' })),
      () => serializeCommand(updateCommand({ ...base, toTag: '&&' })),
      () => serializeCommand(updateCommand({ ...base, notify: { socket: 'unix:/x', tag: '' } })),
      () => serializeCommand(updateCommand({ ...base, mods: { ptime: 0 } })),
      () => serializeCommand(updateCommand({ ...base, mods: { codecs: [1.5] } })),
      () => serializeCommand(updateCommand({ ...base, mods: { localLabel: 'a}b' } })),
      () => serializeCommand(updateCommand({ ...base, mods: { remoteAddress: '[::1]' } })),
      () => serializeCommand(updateCommand({ ...base, mods: { localAddress: 'host.example' } })),
      () => serializeCommand(updateCommand({ ...base, mods: { localAddress: '' } })),
      () => serializeCommand(updateCommand({ ...base, mods: { unknown: 'Tz' } })),
      () =>
        serializeCommand({
          ...updateCommand({ ...base, kind: 'L' }),
          notify: { socket: 'unix:/x', tag: 't' },
        }),
      () => serializeCommand(queryCommand('c', 'f', undefined, ['ttl'])),
      () => serializeCommand(deleteCommand('c', 'f\u0000')),
      () => serializeCommand(playCommand('c', 'p', 's', 'f', undefined, 0.5)),
    ];
    for (const f of bad) expect(f).toThrow(RtppArgumentError);
  });
});

describe('builders and edits', () => {
  const u = ok('UAc0 call 1.2.3.4 5 ft;1 tt;1 unix:/n T1') as UpdateCommand;

  it('a forced lookup swaps tags, drops notify and raw (docs/protocols/rtpproxy.md §5.5)', () => {
    const l = withKind(withTags(u, 'tt;1', 'ft;1'), 'L');
    expect(l.notify).toBeUndefined();
    expect(l.raw).toBeUndefined();
    expect(serializeCommand(l)).toBe('LAc0 call 1.2.3.4 5 tt;1 ft;1');
    expect(u.raw).toBe('UAc0 call 1.2.3.4 5 ft;1 tt;1 unix:/n T1'); // the original is untouched
    expect(serializeCommand(withoutNotify(u))).toBe('UAc0 call 1.2.3.4 5 ft;1 tt;1');
    expect(serializeCommand(withKind(withKind(u, 'L'), 'U'))).toBe('UAc0 call 1.2.3.4 5 ft;1 tt;1');
  });

  it('lan_address rewriting sets l and drops r (docs/protocols/rtpproxy.md §5.5)', () => {
    const withR = ok('Uc0r203.0.113.9 call 1.2.3.4 5 ft') as UpdateCommand;
    const { remoteAddress: _r, ...m } = withR.mods;
    const lan = withModifiers(withR, { ...m, localAddress: '10.0.0.1' });
    expect(serializeCommand(lan)).toBe('Uc0l10.0.0.1 call 1.2.3.4 5 ft');
    expect(withR.mods.remoteAddress).toBe('203.0.113.9');
    expect(serializeCommand(withLocalAddress(withR, '10.0.0.1'))).toBe(
      'Uc0l10.0.0.1 call 1.2.3.4 5 ft',
    );
    const labelled = ok('UAl{pub}r1.2.3.4 call 1.2.3.4 5 ft') as UpdateCommand;
    expect(serializeCommand(withLocalAddress(labelled, '2001:db8::1'))).toBe(
      'UAl[2001:db8::1] call 1.2.3.4 5 ft',
    );
  });

  it('keeps the client modifier string while the modifiers are unchanged', () => {
    const opensips = ok('UAc0Z20Tq c 1.2.3.4 5 ft tt') as UpdateCommand;
    expect(serializeCommand(withTags(opensips, 'tt', 'ft'))).toBe('UAc0Z20Tq c 1.2.3.4 5 tt ft');
    const changed = withModifiers(opensips, { ...opensips.mods, weak: true });
    expect(serializeCommand(changed)).toBe('TqAWZ20c0 c 1.2.3.4 5 ft tt'.replace(/^/, 'U'));
    // a stale modifier string is not trusted: the fields win
    const stale = { ...strip(opensips), mods: { ...opensips.mods, ptime: 30 } } as UpdateCommand;
    expect(serializeCommand(stale)).toBe('UTqAZ30c0 c 1.2.3.4 5 ft tt');
  });

  it('drops and replaces sub-commands', () => {
    const s = ok('U c 1.2.3.4 5 ft && M3:1 Dx') as UpdateCommand;
    expect(serializeCommand(withSubcommands(s, []))).toBe('U c 1.2.3.4 5 ft');
    const q = withSubcommands(queryCommand('c', 'f', 't'), [{ word: 'D', args: [] }]);
    expect(serializeCommand(q)).toBe('Q c f t && D');
  });

  it('builds every command from fields', () => {
    expect(
      serializeCommand(
        updateCommand({
          callId: 'c',
          remoteIp: '::1',
          remotePort: 5,
          fromTag: 'f',
          mods: { ipv6: true, codecs: [0, 8] },
        }),
      ),
    ).toBe('U6c0,8 c ::1 5 f');
    expect(
      serializeCommand(
        lookupCommand({
          callId: 'c',
          remoteIp: '1.2.3.4',
          remotePort: 5,
          fromTag: 'f',
          toTag: 't',
        }),
      ),
    ).toBe('L c 1.2.3.4 5 f t');
    expect(serializeCommand(deleteCommand('c', 'f', 't', true))).toBe('Dw c f t');
    expect(serializeCommand(playCommand('c', 'p', 'session', 'f', 't', 3))).toBe(
      'P3 c p session f t',
    );
    expect(serializeCommand(playCommand('c', 'p', '0,8', 'f'))).toBe('P c p 0,8 f');
    expect(serializeCommand(stopPlayCommand('c', 'f'))).toBe('S c f');
    expect(serializeCommand(recordCommand('c', 'f', 't', true))).toBe('Rs c f t');
    expect(
      serializeCommand(copyCommand('c', 'udp:1.2.3.4:5', 'f', 't', { reportPort: true })),
    ).toBe('Cp c udp:1.2.3.4:5 f t');
    expect(serializeCommand(noRecordCommand('c', 'f', undefined, true))).toBe('Na c f');
    expect(serializeCommand(queryCommand('c', 'f', 't', ['ttl'], true))).toBe('Qv c f t ttl');
    expect(serializeCommand(versionCommand())).toBe('V');
    expect(serializeCommand(versionFeatureCommand('20081224'))).toBe('VF 20081224');
    expect(serializeCommand(infoCommand(true))).toBe('Ib');
    expect(serializeCommand(statsCommand(['a', 'b'], true))).toBe('Gv a b');
    expect(serializeCommand(statsCommand())).toBe('G');
    expect(serializeCommand(flushCommand())).toBe('X');
  });

  it('routes by call-id only, for the commands that have one', () => {
    const u = ok('Uc0 1-9094@127.0.0.1;branch 127.0.0.1 6004 a;1');
    expect(isSessionCommand(u)).toBe(true);
    expect(sessionKey(u)).toBe('1-9094@127.0.0.1;branch');
    expect(sessionKey(ok('D c ft tt'))).toBe('c');
    for (const t of ['V', 'VF 20040107', 'Ib', 'G', 'X']) {
      expect(isSessionCommand(ok(t))).toBe(false);
      expect(sessionKey(ok(t))).toBeUndefined();
    }
  });

  it('splits media-number tags (docs/protocols/rtpproxy.md §2.8)', () => {
    expect(baseTag('tag;2')).toBe('tag');
    expect(baseTag('tag')).toBe('tag');
    expect(mediaNumber('tag;2')).toBe(2);
    expect(mediaNumber('tag')).toBeUndefined();
    expect(mediaNumber('tag;x')).toBeUndefined();
    expect(mediaTag('tag;1', 3)).toBe('tag;3');
  });
});

// ---------------------------------------------------------------------------------------------
// properties

const tokenChar = fc.constantFrom(
  ...'abcXYZ019-_.@:;%+=&/[]{}~!#$*,()<>?^|"\''.split(''),
  '\u00e9',
  '\u20ac',
);
const token = fc
  .array(tokenChar, { minLength: 1, maxLength: 10 })
  .map((a) => a.join(''))
  .filter((s) => s !== '&&');
const latin1 = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 12 })
  .map((a) => String.fromCharCode(...a));
const v6 = fc.constantFrom('2001:db8::7', '::1', 'fe80::1:2', '1:2:3:4:5:6:7:8');
const unknownLetters = fc
  .array(
    fc.constantFrom(...'bBdfgGhHjkKmMoOpPqQtTuUvVxXyY0123457890!#$%*+-/:;<=>?@^_`|~&'.split('')),
    {
      maxLength: 4,
    },
  )
  .map((a) => a.join(''));

/** Any text, sendable as a token or not. */
const anyText = fc.oneof(
  token,
  fc.string({ maxLength: 8 }),
  fc.constantFrom('', ' ', '&&', 'a b', 'x\u0000', '\t', 'é'),
);

const modsArb: fc.Arbitrary<UpdateModifiers> = fc
  .record(
    {
      asymmetric: fc.boolean(),
      symmetric: fc.boolean(),
      ipv6: fc.boolean(),
      weak: fc.boolean(),
      newPort: fc.boolean(),
      bridge: fc.array(fc.constantFrom('e' as const, 'i' as const), { maxLength: 2 }),
      unknown: unknownLetters,
      ptime: fc.integer({ min: 1, max: 999 }),
      codecs: fc.array(fc.integer({ min: 0, max: 127 }), { maxLength: 5 }),
      local: fc.oneof(
        fc.ipV4().map((a) => ({ localAddress: a })),
        v6.map((a) => ({ localAddress: a })),
        fc.stringMatching(/^[a-z0-9._-]{1,8}$/).map((l) => ({ localLabel: l })),
      ),
      remoteAddress: fc.oneof(fc.ipV4(), v6),
    },
    {
      requiredKeys: ['asymmetric', 'symmetric', 'ipv6', 'weak', 'newPort', 'bridge', 'unknown'],
    },
  )
  .map(({ local, ...m }) => ({ ...m, ...(local ?? {}) }) as UpdateModifiers);

const subArb = (main: 'U' | 'L' | 'Q', hasTo: boolean): fc.Arbitrary<RtppSubcommand> => {
  const common: fc.Arbitrary<RtppSubcommand>[] = [
    fc.constantFrom('D', 'd', 'Dw').map((word) => ({ word, args: [] })),
    fc
      .tuple(
        fc.constantFrom('S', 'Sr'),
        fc.constantFrom('ttl', 'tos'),
        fc.integer({ min: 1, max: 255 }),
      )
      .map(([word, k, v]) => ({ word, args: [`${k}=${v}`] })),
    fc
      .tuple(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.array(token, { maxLength: 3 }),
      )
      .map(([m, i, args]) => ({ word: `M${m}:${i}`, args })),
  ];
  if (main === 'U' && hasTo) {
    common.push(
      fc.tuple(fc.ipV4(), fc.integer({ min: 1, max: 65535 })).map(([a, p]) => ({
        word: 'L',
        args: [a, String(p)],
      })),
      fc.tuple(token, token, token).map((args) => ({ word: 'C', args })),
    );
  }
  return fc.oneof(...common);
};

/** A remote address rtpproxy accepts in the family the `6` modifier picks, or one it ignores. */
const remoteFor = (ipv6: boolean): fc.Arbitrary<string> =>
  ipv6
    ? fc.oneof(
        v6,
        fc.constant('::'),
        token.filter((t) => t.length === 1),
      )
    : fc.oneof(
        fc.ipV4(),
        fc.constant('0.0.0.0'),
        token.filter((t) => t.length < 7),
      );

const updateArb: fc.Arbitrary<RtppCommand> = fc
  .record({
    kind: fc.constantFrom('U' as const, 'L' as const),
    mods: modsArb,
    callId: token,
    remotePort: fc.integer({ min: 0, max: 65535 }).map(String),
    fromTag: token,
    toTag: fc.option(token, { nil: undefined }),
    notify: fc.option(fc.record({ socket: token, tag: latin1 }), { nil: undefined }),
    nsub: fc.nat(3),
  })
  .chain(({ nsub, ...r }) =>
    fc
      .tuple(
        fc.array(subArb(r.kind, r.toTag !== undefined), { maxLength: nsub }),
        remoteFor(r.mods.ipv6),
      )
      .map(([subcommands, remoteIp]) => {
        const { toTag, notify, ...rest } = r;
        return updateCommand({
          ...rest,
          remoteIp,
          ...(toTag === undefined ? {} : { toTag }),
          ...(notify === undefined || r.kind === 'L' ? {} : { notify }),
          subcommands,
        });
      }),
  );

const opt = fc.option(token, { nil: undefined });
const otherArb: fc.Arbitrary<RtppCommand> = fc.oneof(
  fc.tuple(token, token, opt, fc.boolean()).map(([c, f, t, w]) => deleteCommand(c, f, t, w)),
  fc
    .tuple(token, token, token, token, opt, fc.integer({ min: -5, max: 1000 }))
    .map(([c, p, k, f, t, n]) => playCommand(c, p, k, f, t, n)),
  fc.tuple(token, token, opt).map(([c, f, t]) => stopPlayCommand(c, f, t)),
  fc.tuple(token, token, opt, fc.boolean()).map(([c, f, t, s]) => recordCommand(c, f, t, s)),
  fc
    .tuple(token, token, token, opt, fc.boolean(), fc.boolean())
    .map(([c, g, f, t, single, reportPort]) => copyCommand(c, g, f, t, { single, reportPort })),
  fc.tuple(token, token, opt, fc.boolean()).map(([c, f, t, a]) => noRecordCommand(c, f, t, a)),
  fc
    .tuple(
      token,
      token,
      opt,
      fc.array(token, { maxLength: 11 }),
      fc.boolean(),
      fc.array(subArb('Q', false), { maxLength: 2 }),
    )
    .map(([c, f, t, counters, v, subs]) =>
      withSubcommands(queryCommand(c, f, t, t === undefined ? [] : counters, v), subs),
    ),
  fc.constant(versionCommand()),
  token.map(versionFeatureCommand),
  fc.tuple(fc.boolean(), fc.boolean()).map(([b, l]) => infoCommand(b, l)),
  fc.tuple(fc.array(token, { maxLength: 22 }), fc.boolean()).map(([n, v]) => statsCommand(n, v)),
  fc.constant(flushCommand()),
);

describe('properties', () => {
  it('parse ∘ serialise is the identity on generated commands of every kind', () => {
    fc.assert(
      fc.property(fc.oneof(updateArb, otherArb), (cmd) => {
        const text = serializeCommand(cmd);
        const back = parseCommand(text);
        if (!back.ok) throw new Error(`${text}: E${back.error.code} ${back.error.reason}`);
        expect(strip(back.command)).toEqual(cmd);
        expect(back.command.raw).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('serialise ∘ parse is the identity on canonical text', () => {
    fc.assert(
      fc.property(fc.oneof(updateArb, otherArb), (cmd) => {
        const text = serializeCommand(cmd);
        expect(serializeCommand(strip(ok(text)))).toBe(text);
        expect(canonical(ok(text))).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('blank runs, TABs, CR/LF between and around tokens change nothing but raw', () => {
    const blanks = fc
      .array(fc.constantFrom(' ', '\t', '\r', '\n'), { minLength: 1, maxLength: 3 })
      .map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.oneof(updateArb, otherArb),
        fc.array(blanks, { minLength: 40, maxLength: 40 }),
        fc.array(fc.constantFrom('', ' ', '\r\n', '\n', '\t '), { minLength: 2, maxLength: 2 }),
        (cmd, seps, [lead, trail]) => {
          const text = serializeCommand(cmd);
          let i = 0;
          const spaced = text.replace(/ /g, () => seps[i++ % seps.length]!);
          const back = ok(`${lead}${spaced}${trail}`);
          expect(back.raw).toBe(spaced);
          expect(strip(back)).toEqual(cmd);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a hand-made command with any field values is either refused or reads back as itself', () => {
    const anyMods = fc.record(
      {
        asymmetric: fc.boolean(),
        symmetric: fc.boolean(),
        ipv6: fc.boolean(),
        weak: fc.boolean(),
        newPort: fc.boolean(),
        bridge: fc.array(fc.constantFrom('e', 'i', 'x'), { maxLength: 3 }),
        unknown: fc.string({ maxLength: 4 }),
        ptime: fc.oneof(fc.integer({ min: -2, max: 1002 }), fc.double()),
        codecs: fc.array(fc.oneof(fc.integer({ min: -1, max: 300 }), fc.double()), {
          maxLength: 3,
        }),
        localAddress: fc.oneof(fc.ipV4(), v6, anyText),
        localLabel: anyText,
        remoteAddress: fc.oneof(fc.ipV4(), v6, anyText),
      },
      { requiredKeys: ['asymmetric', 'symmetric', 'ipv6', 'weak', 'newPort', 'bridge', 'unknown'] },
    ) as fc.Arbitrary<UpdateModifiers>;
    const cmdArb = fc.record(
      {
        kind: fc.constantFrom('U' as const, 'L' as const),
        mods: anyMods,
        callId: anyText,
        remoteIp: fc.oneof(fc.ipV4(), anyText),
        remotePort: fc.oneof(fc.constant('6000'), anyText),
        fromTag: anyText,
        toTag: anyText,
        notify: fc.record({ socket: anyText, tag: fc.oneof(latin1, anyText) }),
      },
      { requiredKeys: ['kind', 'mods', 'callId', 'remoteIp', 'remotePort', 'fromTag'] },
    );
    fc.assert(
      fc.property(cmdArb, (init) => {
        const cmd = updateCommand(init as Parameters<typeof updateCommand>[0]);
        const text = serializedOrRefused(cmd);
        if (text === undefined) return;
        const back = parseCommand(text);
        // what the serialiser leaves to the server: whether the remote address resolves
        if (!back.ok && back.error.code === 37) return;
        if (!back.ok) throw new Error(`${text}: E${back.error.code} ${back.error.reason}`);
        const tag = cmd.kind === 'U' ? cmd.notify?.tag : undefined;
        if (tag !== undefined && /[^\u0000-\u00ff]/.test(tag)) return; // sent as UTF-8 bytes
        expect(strip(back.command)).toEqual(codecsAsSent(cmd));
      }),
      { numRuns: 3000 },
    );
  });

  it('a codec number -0 is sent as c0 and reads back as 0 (seed 105 of the property above)', () => {
    const cmd = updateCommand({
      kind: 'U',
      mods: { codecs: [-0] },
      callId: 'a',
      remoteIp: '0.0.0.0',
      remotePort: '6000',
      fromTag: 'a',
    });
    const text = serializeCommand(cmd);
    expect(text).toBe('Uc0 a 0.0.0.0 6000 a');
    expect(strip(ok(text))).toEqual(codecsAsSent(cmd));
    expect(Object.is((ok(text) as UpdateCommand).mods.codecs?.[0], 0)).toBe(true);
  });

  it('hand-made commands of the other kinds are either refused or read back as themselves', () => {
    const t = anyText;
    const o = fc.option(anyText, { nil: undefined });
    const anyCmd: fc.Arbitrary<RtppCommand> = fc.oneof(
      fc.tuple(t, t, o, fc.boolean()).map(([c, f, x, w]) => deleteCommand(c, f, x, w)),
      fc
        .tuple(
          t,
          t,
          t,
          t,
          o,
          fc.oneof(
            fc.integer(),
            fc.double().map((d) => d + 0),
          ),
        )
        .map(([c, p, k, f, x, n]) => playCommand(c, p, k, f, x, n)),
      fc.tuple(t, t, o).map(([c, f, x]) => stopPlayCommand(c, f, x)),
      fc.tuple(t, t, o, fc.boolean()).map(([c, f, x, s]) => recordCommand(c, f, x, s)),
      fc
        .tuple(t, t, t, o, fc.boolean(), fc.boolean())
        .map(([c, g, f, x, single, reportPort]) => copyCommand(c, g, f, x, { single, reportPort })),
      fc.tuple(t, t, o, fc.boolean()).map(([c, f, x, a]) => noRecordCommand(c, f, x, a)),
      fc
        .tuple(t, t, o, fc.array(t, { maxLength: 3 }), fc.boolean())
        .map(([c, f, x, counters, v]) => queryCommand(c, f, x, counters, v)),
      t.map(versionFeatureCommand),
      fc.tuple(fc.array(t, { maxLength: 4 }), fc.boolean()).map(([n, v]) => statsCommand(n, v)),
    );
    fc.assert(
      fc.property(anyCmd, (cmd) => {
        const text = serializedOrRefused(cmd);
        if (text === undefined) return;
        const back = parseCommand(text);
        if (!back.ok) throw new Error(`${text}: E${back.error.code} ${back.error.reason}`);
        expect(strip(back.command)).toEqual(cmd);
      }),
      { numRuns: 3000 },
    );
  });

  it('tags survive edits: swapping tags twice gives the same text', () => {
    fc.assert(
      fc.property(updateArb, (cmd) => {
        if (cmd.kind !== 'U' && cmd.kind !== 'L') return;
        const to = cmd.toTag ?? 'x';
        const twice = withTags(withTags(cmd, to, cmd.fromTag), cmd.fromTag, cmd.toTag);
        expect(serializeCommand(twice)).toBe(serializeCommand(cmd));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on random or mutated input, and what parses serialises', () => {
    const base = [
      'Uc0,8,101Z20l[::1]r1.2.3.4 c 1.2.3.4 5 ft;1 tt;1 unix:/n T%20x && L 1.2.3.4 5',
      'L c 1.2.3.4 5 a b',
      'Dw c a',
      'Qv c a b ttl && D',
      'Gv a',
      'VF 1',
      'P3 c p s f',
      'Csp c t f',
      'Na c f',
      'Ibl',
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'binary', maxLength: 100 }),
          fc
            .tuple(fc.constantFrom(...base), fc.nat(80), fc.nat(4), fc.string({ maxLength: 5 }))
            .map(([b, at, del, ins]) => b.slice(0, at) + ins + b.slice(at + del)),
        ),
        (text) => {
          const r = parseCommand(text);
          if (r.ok) {
            expect(serializeCommand(r.command)).toBe(r.command.raw);
            // the canonical form of anything accepted parses again
            expect(parseCommand(canonical(r.command)).ok).toBe(true);
          } else {
            expect(Number.isInteger(r.error.code)).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
