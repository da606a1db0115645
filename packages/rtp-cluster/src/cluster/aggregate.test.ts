/** RtpCluster: VF, I, G and X answered over its members (aggregate.ts). */
import { describe, expect, it } from 'vitest';
import { memberConfig } from '../../test/scripted.js';
import { setup, U } from './cluster.test.setup.js';

describe('answers of its own', () => {
  it('answers V itself even with no member online, and VF as the intersection over online members', async () => {
    const { cluster, members } = await setup([
      {
        config: memberConfig('a'),
        options: { capabilities: ['20050322', '20080403', '20071116'] },
      },
      { config: memberConfig('b'), options: { capabilities: ['20050322', '20071116'] } },
    ]);
    expect(await cluster.handle({ kind: 'VF', modifiers: '', date: '20050322' })).toEqual({
      kind: 'value',
      value: '1',
    });
    expect(await cluster.handle({ kind: 'VF', modifiers: '', date: '20080403' })).toEqual({
      kind: 'value',
      value: '0',
    });
    expect(await cluster.handle({ kind: 'VF', modifiers: '', date: '20191015' })).toEqual({
      kind: 'value',
      value: '0',
    });
    // no V/VF was forwarded by the client's probe: the members were asked only by the balancer
    const before = members.get('a')!.commandsOf('V').length;
    members.get('a')!.failure = 'timeout';
    members.get('b')!.failure = 'timeout';
    expect(await cluster.handle({ kind: 'V', modifiers: '' })).toEqual({
      kind: 'value',
      value: '20040107',
    });
    expect(members.get('a')!.commandsOf('V').length).toBe(before);
  });

  it('does not claim notifications (20081224) for network members without a disconnect relay', async () => {
    const { cluster } = await setup([
      { config: memberConfig('a'), options: { capabilities: ['20050322', '20081224'] } },
    ]);
    expect(await cluster.handle({ kind: 'VF', modifiers: '', date: '20081224' })).toEqual({
      kind: 'value',
      value: '0',
    });
    const local = await setup([
      {
        config: memberConfig('u', { protocol: 'unix', address: '/tmp/x.sock' }),
        options: { capabilities: ['20050322', '20081224'] },
      },
    ]);
    expect(await local.cluster.handle({ kind: 'VF', modifiers: '', date: '20081224' })).toEqual({
      kind: 'value',
      value: '1',
    });
  });

  it('sends X to every member, not the first only', async () => {
    const { cluster, members } = await setup([
      { config: memberConfig('a') },
      { config: memberConfig('b') },
    ]);
    expect(await cluster.handle({ kind: 'X', modifiers: '' })).toEqual({
      kind: 'value',
      value: '0',
    });
    expect(members.get('a')!.commandsOf('X')).toHaveLength(1);
    expect(members.get('b')!.commandsOf('X')).toHaveLength(1);
  });

  it('aggregates I over online members and sums G', async () => {
    const { cluster } = await setup(
      [{ config: memberConfig('a') }, { config: memberConfig('b') }],
      {},
      (() => {
        let i = 0;
        return () => (i++ % 2 === 0 ? 0.1 : 0.9);
      })(),
    );
    await cluster.handle(U('c1', 'f1'));
    await cluster.handle(U('c2', 'f2'));
    const g = await cluster.handle({
      kind: 'G',
      modifiers: 'v',
      verbose: true,
      names: ['nsess_created', 'total_duration'],
    });
    expect(g).toEqual({
      kind: 'list',
      values: ['2', '3.000000'],
      names: ['nsess_created', 'total_duration'],
      subResults: [],
    });
    expect(await cluster.handle({ kind: 'G', modifiers: '', verbose: false, names: [] })).toEqual({
      kind: 'list',
      values: [],
      subResults: [],
    });
  });
});
