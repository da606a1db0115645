import { parseCommand, parseReply, serializeReply } from '@sipedge/rtpp';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  classifyReply,
  errorCodeOf,
  type PlainSession,
  REPLY_ERROR,
  REPLY_NEGATIVE,
  REPLY_OTHER,
  REPLY_POSITIVE,
  scanPlainSession,
} from './fast-path.js';

const scan = (text: string): PlainSession | undefined => {
  const out: PlainSession = { kind: 'U', callId: '', hasToTag: false };
  return scanPlainSession(text, out) ? out : undefined;
};

describe('scanPlainSession', () => {
  it('reads kind, call-id and to_tag presence of plain U, L and D', () => {
    expect(scan('U c1 127.0.0.1 7000 f;1')).toEqual({ kind: 'U', callId: 'c1', hasToTag: false });
    expect(scan('UAIc0,8,101 c2@h 192.0.2.1 7000 f;1 t;1')).toEqual({
      kind: 'U',
      callId: 'c2@h',
      hasToTag: true,
    });
    expect(scan('U6 c3 ::1 7000 f')).toEqual({ kind: 'U', callId: 'c3', hasToTag: false });
    expect(scan('L c4 127.0.0.1 7000 f;1 t;1')).toEqual({
      kind: 'L',
      callId: 'c4',
      hasToTag: true,
    });
    expect(scan('D c5 f')).toEqual({ kind: 'D', callId: 'c5', hasToTag: false });
    expect(scan('Dw c6 f t')).toEqual({ kind: 'D', callId: 'c6', hasToTag: true });
  });

  it('declines everything that is not plain, for the parsed path', () => {
    for (const text of [
      'U c 127.0.0.1 7000 f t /var/run/notify tag', // notify arguments
      'U c 127.0.0.1 7000 f n tag', // notify without to_tag
      'U c 127.0.0.1 7000 f t && L1.2.3.4', // sub-command
      'U c 127.0.0.1 7000', // too few
      'U c 127.0.0.1 70000 f', // bad port: the parser answers E7 (mapped to E2)
      'U c 300.0.0.1 7000 f',
      'Ux c 127.0.0.1 7000 f', // unknown modifier
      'Uz0 c 127.0.0.1 7000 f', // bad modifier
      'Dx c f', // bad D modifier
      'D c', // too few
      'D c f t x', // too many
      'D  c f', // double blank
      'D\tc f', // tab
      'D c f ', // trailing blank
      'D c\u00e9 f', // 8-bit text
      'Q c f t', // other commands
      'V',
      'VF 20040107',
      'X',
      'G',
      'I',
      '',
    ]) {
      expect(scan(text), text).toBeUndefined();
    }
  });

  it('accepts only what the parser accepts, with the same kind, call-id and tags (property)', () => {
    const token = fc.stringMatching(/^[!-~]{1,6}$/);
    const command = fc.tuple(
      fc.constantFrom('U', 'L', 'D', 'u', 'Dw', 'UAI', 'Lc0,8', 'U6', 'Ue', 'Uz20', 'Ux', 'Q'),
      fc.array(fc.oneof(token, fc.constantFrom('127.0.0.1', '::1', '7000', '0', '70000', '&&')), {
        minLength: 0,
        maxLength: 8,
      }),
    );
    fc.assert(
      fc.property(command, ([word, args]) => {
        const text = [word, ...args].join(' ');
        const s = scan(text);
        if (s === undefined) return;
        const parsed = parseCommand(text, {});
        expect(parsed.ok, text).toBe(true);
        if (!parsed.ok) return;
        const cmd = parsed.command;
        expect(cmd.kind).toBe(s.kind);
        if (cmd.kind !== 'U' && cmd.kind !== 'L' && cmd.kind !== 'D') return;
        expect(cmd.callId).toBe(s.callId);
        expect(cmd.toTag !== undefined).toBe(s.hasToTag);
        if (cmd.kind !== 'D') {
          expect(cmd.notify).toBeUndefined();
          expect(cmd.subcommands).toHaveLength(0);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('classifyReply', () => {
  it('recognises canonical port, value and error replies', () => {
    expect(classifyReply('35000 127.0.0.1', 'U')).toBe(REPLY_POSITIVE);
    expect(classifyReply('35000', 'L')).toBe(REPLY_POSITIVE);
    expect(classifyReply('35000 2001:db8::1 6', 'U')).toBe(REPLY_POSITIVE);
    expect(classifyReply('0', 'L')).toBe(REPLY_NEGATIVE);
    expect(classifyReply('0', 'D')).toBe(REPLY_POSITIVE);
    expect(classifyReply('E50', 'D')).toBe(REPLY_ERROR);
    expect(errorCodeOf('E50')).toBe(50);
    expect(classifyReply('E8', 'U')).toBe(REPLY_ERROR);
    expect(errorCodeOf('E8')).toBe(8);
    for (const [body, kind] of [
      ['035000 127.0.0.1', 'U'],
      ['35000 127.0.0.1 4', 'U'],
      ['35000 host.example', 'U'],
      ['70000', 'U'],
      ['E07', 'D'],
      ['E', 'D'],
      ['1', 'D'],
      ['garbage', 'U'],
      ['', 'D'],
    ] as const) {
      expect(classifyReply(body, kind), body).toBe(REPLY_OTHER);
    }
  });

  it('recognises a body only when the parsed path would send the same text back (property)', () => {
    const body = fc.oneof(
      fc.stringMatching(/^[0-9E .:a-fA-F6x-z-]{0,24}$/),
      fc
        .tuple(fc.integer({ min: 0, max: 70000 }), fc.ipV4(), fc.boolean())
        .map(([p, a, six]) => `${p} ${a}${six ? ' 6' : ''}`),
      fc.integer({ min: 0, max: 2000 }).map((c) => `E${c}`),
    );
    fc.assert(
      fc.property(body, fc.constantFrom('U', 'L', 'D' as const), (text, kind) => {
        const cls = classifyReply(text, kind);
        if (cls === REPLY_OTHER) return;
        const reply = parseReply(text, kind);
        expect(serializeReply(reply)).toBe(`${text}\n`);
        if (cls === REPLY_ERROR) expect(reply).toEqual({ kind: 'error', code: errorCodeOf(text) });
        else if (reply.kind === 'port') expect(cls).toBe(reply.port === 0 ? 0 : 1);
        else expect(reply).toEqual({ kind: 'value', value: '0' });
      }),
      { numRuns: 3000 },
    );
  });
});
