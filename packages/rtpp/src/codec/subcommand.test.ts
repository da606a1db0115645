import { describe, expect, it } from 'vitest';
import { EMPTY_MODIFIERS } from './modifiers.js';
import { readSubcommand } from './subcommand.js';

const sub = (text: string) => {
  const [word = '', ...args] = text.split(' ');
  return readSubcommand({ word, args });
};

describe('readSubcommand (docs/protocols/rtpproxy.md §2.4)', () => {
  it('reads every sub-command rtpproxy knows', () => {
    expect(sub('M3:1 Dtag 101')).toEqual({
      kind: 'module',
      module: 3,
      instance: 1,
      args: ['Dtag', '101'],
    });
    expect(sub('D')).toEqual({ kind: 'delete', weak: false });
    expect(sub('dw')).toEqual({ kind: 'delete', weak: true });
    expect(sub('S ttl=64')).toEqual({ kind: 'set', reverse: false, param: 'ttl', value: 64 });
    expect(sub('Sr tos=184')).toEqual({ kind: 'set', reverse: true, param: 'tos', value: 184 });
    expect(sub('L 192.0.2.1 6000')).toEqual({
      kind: 'lookup',
      modifiers: '',
      mods: EMPTY_MODIFIERS,
      remoteIp: '192.0.2.1',
      remotePort: '6000',
    });
    expect(sub('Lc0,8 192.0.2.1 6000')).toMatchObject({ kind: 'lookup', mods: { codecs: [0, 8] } });
    expect(sub('C call f t')).toEqual({ kind: 'copy', callId: 'call', fromTag: 'f', toTag: 't' });
  });

  it.each([
    'M0:1',
    'M3',
    'M3:x',
    'D x',
    'Dx',
    'S',
    'S ttl=0',
    'S hops=3',
    'Srr ttl=1',
    'L 1.2.3.4',
    'Lx 1.2.3.4 5',
    'C a b',
    'Cx a b c',
    'Q',
    '1',
  ])('refuses %j', (text) => {
    expect(sub(text)).toBeUndefined();
  });

  it('refuses e/i in an L sub-command when the server does not bridge', () => {
    expect(readSubcommand({ word: 'Le', args: ['1.2.3.4', '5'] })).toBeDefined();
    expect(
      readSubcommand({ word: 'Le', args: ['1.2.3.4', '5'] }, { bridging: false }),
    ).toBeUndefined();
  });
});
