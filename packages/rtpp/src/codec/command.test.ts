import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RtppCommand, UpdateCommand } from '../types.js';
import {
  baseTag,
  deleteCommand,
  mediaNumber,
  updateCommand,
  withKind,
  withModifiers,
  withoutNotify,
  withTags,
} from './build.js';
import { parseCommand, serializeCommand, strictUpdateCheck } from './command.js';

function ok(text: string): RtppCommand {
  const r = parseCommand(text);
  if (!r.ok)
    throw new Error(
      `expected ${JSON.stringify(text)} to parse, got E${r.error.code} (${r.error.reason})`,
    );
  return r.command;
}
function code(text: string): number {
  const r = parseCommand(text);
  if (r.ok) throw new Error(`expected ${JSON.stringify(text)} to fail`);
  return r.error.code;
}
const strip = (c: RtppCommand) => {
  const { raw: _r, ...rest } = c;
  return rest;
};

describe('parseCommand: what Kamailio and OpenSIPS send', () => {
  const lines = readFileSync(new URL('../../test/fixtures/commands.txt', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'));
  it.each(lines)('%s parses and forwards byte for byte', (line) => {
    const cmd = ok(line);
    expect(serializeCommand(cmd)).toBe(line);
    // an edited copy serialises canonically and parses back to the same fields
    const again = ok(serializeCommand(strip(cmd) as RtppCommand));
    expect(strip(again)).toEqual(strip(cmd));
  });

  it('reads a Kamailio offer field by field', () => {
    expect(ok('Uc0 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1')).toEqual({
      kind: 'U',
      raw: 'Uc0 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1',
      modifiers: 'c0',
      mods: {
        asymmetric: false,
        symmetric: false,
        ipv6: false,
        weak: false,
        newPort: false,
        bridge: [],
        unknown: '',
        codecs: [0],
      },
      callId: '1-9094@127.0.0.1',
      remoteIp: '127.0.0.1',
      remotePort: '6004',
      fromTag: '9094SIPpTag001;1',
      subcommands: [],
    });
    expect(
      ok('Lc0 1-9094@127.0.0.1 127.0.0.1 6000 9094SIPpTag001;1 8978SIPpTag011;1'),
    ).toMatchObject({
      kind: 'L',
      fromTag: '9094SIPpTag001;1',
      toTag: '8978SIPpTag011;1',
    });
  });
});

describe('parseCommand: the digest §1.5 exchanges', () => {
  it('reads modifiers left to right with value-taking ones', () => {
    const u = ok('UAc0,8,101Z20 c1@h 192.0.2.10 40000 ft;1') as UpdateCommand;
    expect(u.mods).toMatchObject({ asymmetric: true, codecs: [0, 8, 101], ptime: 20 });
    const v6 = ok('U6 c2@h 2001:db8::9 40000 fx;1') as UpdateCommand;
    expect(v6.mods.ipv6).toBe(true);
    const lr = ok('Ul[2001:db8::1]r192.0.2.1eI c 1.2.3.4 5 f') as UpdateCommand;
    expect(lr.mods).toMatchObject({
      localAddress: '2001:db8::1',
      remoteAddress: '192.0.2.1',
      bridge: ['e', 'i'],
    });
    const label = ok('Ul{pub}wn c 1.2.3.4 5 f') as UpdateCommand;
    expect(label.mods).toMatchObject({ localLabel: 'pub', weak: true, newPort: true });
    const s = ok('UAS c 1.2.3.4 5 f') as UpdateCommand;
    expect(s.mods).toMatchObject({ asymmetric: false, symmetric: true });
  });

  it('reads every command shape', () => {
    expect(ok('L nosuch 198.51.100.7 5000 a b')).toMatchObject({ kind: 'L', toTag: 'b' });
    expect(ok('Q c1@h ft;1 tt;1')).toMatchObject({
      kind: 'Q',
      verbose: false,
      toTag: 'tt;1',
      counters: [],
    });
    expect(ok('Qv c ft tt ttl npkts_ina')).toMatchObject({
      verbose: true,
      counters: ['ttl', 'npkts_ina'],
    });
    expect(ok('D c1@h ft tt')).toMatchObject({
      kind: 'D',
      weak: false,
      fromTag: 'ft',
      toTag: 'tt',
    });
    expect(ok('Dw c ft')).toMatchObject({ kind: 'D', weak: true });
    expect(ok('Gv nsess_created total_duration')).toMatchObject({
      kind: 'G',
      verbose: true,
      names: ['nsess_created', 'total_duration'],
    });
    expect(ok('G')).toMatchObject({ kind: 'G', names: [] });
    expect(ok('Ib')).toMatchObject({ kind: 'I', brief: true, load: false });
    expect(ok('Il')).toMatchObject({ kind: 'I', brief: false, load: true });
    expect(ok('P3 c prompt 0,8 ft tt')).toMatchObject({
      kind: 'P',
      count: 3,
      prompt: 'prompt',
      codecs: '0,8',
    });
    expect(ok('P c prompt session ft')).toMatchObject({ kind: 'P', count: 1, codecs: 'session' });
    expect(ok('S c ft tt')).toMatchObject({ kind: 'S', toTag: 'tt' });
    expect(ok('Rs c ft')).toMatchObject({ kind: 'R', single: true });
    expect(ok('Csp c udp:1.2.3.4:5 ft tt')).toMatchObject({
      kind: 'C',
      single: true,
      reportPort: true,
      target: 'udp:1.2.3.4:5',
    });
    expect(ok('Na c ft')).toMatchObject({ kind: 'N', both: true });
    expect(ok('X')).toMatchObject({ kind: 'X' });
    expect(ok('vf 20081224')).toMatchObject({ kind: 'VF', date: '20081224' });
  });

  it('distinguishes U argument counts: 7 is a notify pair without to_tag, 8 with it', () => {
    expect(ok('U c 1.2.3.4 5 ft unix:/var/run/n.sock T%20tag+1')).toMatchObject({
      notify: { socket: 'unix:/var/run/n.sock', tag: 'T tag 1' },
    });
    const eight = ok('U c 1.2.3.4 5 ft tt tcp:%%CC_SELF%%:9 T1') as UpdateCommand;
    expect(eight).toMatchObject({
      toTag: 'tt',
      notify: { socket: 'tcp:%%CC_SELF%%:9', tag: 'T1' },
    });
  });

  it('parses && sub-commands on U, L and Q', () => {
    const u = ok('U c 1.2.3.4 5 ft && M3:1 Dtag 101 && D') as UpdateCommand;
    expect(u.subcommands).toEqual([
      { word: 'M3:1', args: ['Dtag', '101'] },
      { word: 'D', args: [] },
    ]);
    expect(u.fromTag).toBe('ft');
    expect(ok('Q c ft tt && D')).toMatchObject({ subcommands: [{ word: 'D', args: [] }] });
  });

  it('collapses blank runs and accepts CR/LF and tabs', () => {
    expect(strip(ok('  V \r\n'))).toEqual({ kind: 'V', modifiers: '' });
    expect(ok('D\tc  ft\ttt\n')).toMatchObject({
      callId: 'c',
      fromTag: 'ft',
      toTag: 'tt',
      raw: 'D\tc  ft\ttt',
    });
  });
});

describe('parseCommand: errors as rtpproxy answers them (digest §2.10)', () => {
  it.each([
    ['', 5],
    ['   ', 5],
    ['V\u0000', 5],
    ['Z foo', 0],
    ['U c 1.2.3.4 5', 1],
    ['L c 1.2.3.4 5 ft tt unix:/x T', 1], // notify on L
    ['D c', 1],
    ['V extra', 1],
    ['VF', 1],
    ['Vx', 2],
    ['Sx c ft', 2],
    ['Xa', 2],
    ['D c ft && D', 3],
    ['V && D', 3],
    ['Rp c ft', 6],
    ['Rx c ft', 7],
    ['Nb c ft', 7],
    ['Cx c t ft', 7],
    ['Dx c ft', 8],
    ['Gx a', 9],
    ['U c 1.2.3.4 5 ft unix:/x T%zz', 10],
    ['Ueie c 1.2.3.4 5 ft', 11],
    ['Ueei c 1.2.3.4 5 ft', 12],
    ['Uz0 c 1.2.3.4 5 ft', 13],
    ['Uz1000 c 1.2.3.4 5 ft', 13],
    ['Uz c 1.2.3.4 5 ft', 13],
    ['Uc c 1.2.3.4 5 ft', 14],
    ['Uc0c8 c 1.2.3.4 5 ft', 14],
    ['Ul{} c 1.2.3.4 5 ft', 15],
    ['Ul[nope] c 1.2.3.4 5 ft', 15],
    ['Ur c 1.2.3.4 5 ft', 16],
    ['Ur[1:2 c 1.2.3.4 5 ft', 16],
    ['Px c p s ft', 17],
    ['Ix', 18],
    ['Qx c ft', 19],
    ['U c 1.2.3.4 5 ft &&', 5],
    ['U c 1.2.3.4 5 ft && && D', 5],
    [`G ${Array.from({ length: 24 }, (_, i) => `n${i}`).join(' ')}`, 5],
    [`U c 1.2.3.4 5 ft${' && D'.repeat(16)}`, 5],
  ])('%j → E%i', (text, expected) => {
    expect(code(text)).toBe(expected);
  });

  it('keeps unknown U/L modifiers and lets the caller answer E35', () => {
    const cmd = ok('UXc0Tq c 1.2.3.4 5 ft') as UpdateCommand;
    expect(cmd.mods.unknown).toBe('XTq');
    expect(cmd.mods.codecs).toEqual([0]);
    const strict = strictUpdateCheck(cmd);
    expect(strict.ok ? 0 : strict.error.code).toBe(35);
    expect(serializeCommand(cmd)).toBe('UXc0Tq c 1.2.3.4 5 ft');
  });

  it('bounds the command length', () => {
    expect(code(`V ${'x'.repeat(9000)}`)).toBe(5);
  });
});

describe('builders and edits', () => {
  const u = ok('UAc0 call 1.2.3.4 5 ft;1 tt;1 unix:/n T1') as UpdateCommand;

  it('a forced lookup swaps the tags, drops notify and raw', () => {
    const l = withoutNotify(withKind(withTags(u, 'tt;1', 'ft;1'), 'L'));
    expect(serializeCommand(l)).toBe('LAc0 call 1.2.3.4 5 tt;1 ft;1');
    expect(u.raw).toBe('UAc0 call 1.2.3.4 5 ft;1 tt;1 unix:/n T1'); // unchanged
  });

  it('changing modifiers re-serialises them', () => {
    const { remoteAddress: _r, ...m } = u.mods;
    const lan = withModifiers(u, { ...m, localAddress: '10.0.0.1' });
    expect(serializeCommand(lan)).toBe('UAc0l10.0.0.1 call 1.2.3.4 5 ft;1 tt;1 unix:/n T1');
  });

  it('builds commands from fields', () => {
    expect(
      serializeCommand(
        updateCommand({
          callId: 'c',
          remoteIp: '::1',
          remotePort: 5,
          fromTag: 'f',
          mods: { ipv6: true },
          notify: { socket: 'unix:/x', tag: 'a b%' },
        }),
      ),
    ).toBe('U6 c ::1 5 f unix:/x a%20b%25');
    expect(serializeCommand(deleteCommand('c', 'f', 't', true))).toBe('Dw c f t');
    expect(baseTag('tag;2')).toBe('tag');
    expect(mediaNumber('tag;2')).toBe(2);
    expect(mediaNumber('tag')).toBeUndefined();
  });
});

describe('properties', () => {
  const token = fc.stringMatching(/^[A-Za-z0-9@.\-_:;]{1,12}$/).filter((s) => s !== '&&');
  const mods = fc.record(
    {
      asymmetric: fc.boolean(),
      ipv6: fc.boolean(),
      weak: fc.boolean(),
      newPort: fc.boolean(),
      ptime: fc.integer({ min: 1, max: 999 }),
      codecs: fc.array(fc.integer({ min: 0, max: 127 }), { minLength: 1, maxLength: 5 }),
      localAddress: fc.ipV4(),
      remoteAddress: fc.oneof(fc.ipV4(), fc.constant('2001:db8::7')),
    },
    { requiredKeys: ['asymmetric', 'ipv6', 'weak', 'newPort'] },
  );
  const update = fc.record(
    {
      kind: fc.constantFrom('U' as const, 'L' as const),
      mods,
      callId: token,
      remoteIp: fc.ipV4(),
      remotePort: fc.integer({ min: 0, max: 65535 }),
      fromTag: token,
      toTag: token,
    },
    { requiredKeys: ['kind', 'mods', 'callId', 'remoteIp', 'remotePort', 'fromTag'] },
  );

  it('parse ∘ serialise is the identity on generated U/L commands', () => {
    fc.assert(
      fc.property(update, (init) => {
        const cmd = updateCommand(init);
        const text = serializeCommand(cmd);
        const back = parseCommand(text);
        expect(back.ok).toBe(true);
        if (!back.ok) return;
        expect(strip(back.command)).toEqual(strip(cmd));
        expect(serializeCommand(strip(back.command) as RtppCommand)).toBe(text);
      }),
    );
  });

  it('parse ∘ serialise is the identity on generated D, Q, G commands', () => {
    const cmds = fc.oneof(
      fc
        .tuple(token, token, fc.option(token, { nil: undefined }), fc.boolean())
        .map(([c, f, t, w]) => deleteCommand(c, f, t, w) as RtppCommand),
      fc
        .tuple(
          token,
          token,
          token,
          fc.array(fc.constantFrom('ttl', 'npkts_ina', 'nrelayed'), { maxLength: 3 }),
        )
        .map(
          ([c, f, t, counters]) =>
            ({
              kind: 'Q',
              modifiers: '',
              verbose: false,
              callId: c,
              fromTag: f,
              toTag: t,
              counters,
              subcommands: [],
            }) as RtppCommand,
        ),
    );
    fc.assert(
      fc.property(cmds, (cmd) => {
        const back = parseCommand(serializeCommand(cmd));
        expect(back.ok && strip(back.command)).toEqual(strip(cmd));
      }),
    );
  });

  it('never throws on random or mutated input', () => {
    const base = [
      'Uc0,8 c 1.2.3.4 5 ft;1',
      'L c 1.2.3.4 5 a b',
      'D c a',
      'Qv c a b ttl',
      'G a',
      'VF 1',
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc
            .tuple(fc.constantFrom(...base), fc.nat(30), fc.string({ maxLength: 5 }))
            .map(([b, at, ins]) => b.slice(0, at) + ins + b.slice(at)),
        ),
        (text) => {
          const r = parseCommand(text);
          expect(typeof r.ok).toBe('boolean');
          if (r.ok) expect(typeof serializeCommand(r.command)).toBe('string');
        },
      ),
    );
  });
});
