/** RtpCluster: commands and replies as members see them: lan/wan addresses, notify. */
import { VirtualClock } from '@sipedge/core/testing';
import type { UpdateCommand } from '@sipedge/rtpp';
import { describe, expect, it } from 'vitest';
import { flush, memberConfig, ScriptedMember } from '../../test/scripted.js';
import { RtpCluster } from './cluster.js';
import { setup, U } from './cluster.test.setup.js';

describe('address rewriting', () => {
  it('puts wan_address in replies and keeps the IPv6 flag right', async () => {
    const v4 = await setup([
      {
        config: memberConfig('a', { wan_address: '203.0.113.5' }),
        options: { address: '::1', ipv6: true },
      },
    ]);
    expect(await v4.cluster.handle(U('c', 'f'))).toMatchObject({
      address: '203.0.113.5',
      ipv6: false,
    });
    const v6 = await setup([{ config: memberConfig('a', { wan_address: '2001:db8::5' }) }]);
    expect(await v6.cluster.handle(U('c', 'f'))).toMatchObject({
      address: '2001:db8::5',
      ipv6: true,
    });
  });

  it('binds members with lan_address locally and drops the remote-address hint', async () => {
    const { cluster, members } = await setup([
      { config: memberConfig('a', { lan_address: '10.0.0.7' }) },
    ]);
    const cmd = U('c', 'f');
    await cluster.handle({
      ...cmd,
      raw: 'Ur192.0.2.1 c 127.0.0.1 6000 f',
      mods: { ...cmd.mods, remoteAddress: '192.0.2.1' },
    } as UpdateCommand);
    const sent = members.get('a')!.commandsOf('U')[0] as UpdateCommand;
    expect(sent.mods.localAddress).toBe('10.0.0.7');
    expect(sent.mods.remoteAddress).toBeUndefined();
    expect(sent.raw).toBeUndefined();
  });
});

describe('timeout notifications', () => {
  const notifyU = () =>
    U('n', 'f', undefined, { notify: { socket: 'unix:/run/kam/notify_w1', tag: 'T42' } });

  it('rewrites notify args for network members through the disconnect relay', async () => {
    const timers = new VirtualClock();
    const member = new ScriptedMember('a', { capabilities: ['20050322', '20081224', '20150617'] });
    const cluster = new RtpCluster(
      {
        name: 'c',
        protocol: 'udp',
        address: '127.0.0.1:1',
        capacity_limit: 'soft',
        disconnect_notify: {
          inbound_address: '127.0.0.1:8899',
          dest_socket_prefix: 'unix:/run/kam/notify_',
        },
        rtpproxies: [memberConfig('a')],
      },
      { timers, connect: () => member, disconnectRelay: true },
    );
    cluster.start();
    await flush();
    expect(await cluster.handle({ kind: 'VF', modifiers: '', date: '20081224' })).toEqual({
      kind: 'value',
      value: '1',
    });
    await cluster.handle(notifyU());
    expect((member.commandsOf('U')[0] as UpdateCommand).notify).toEqual({
      socket: 'tcp:%%CC_SELF%%:8899',
      tag: 'w1 T42',
    });
  });

  it('drops notify args for network members when no relay runs, keeps them for unix members', async () => {
    const { cluster, members } = await setup([
      {
        config: memberConfig('a'),
        options: { capabilities: ['20050322', '20081224', '20150617'] },
      },
    ]);
    await cluster.handle(notifyU());
    expect((members.get('a')!.commandsOf('U')[0] as UpdateCommand).notify).toBeUndefined();
    const local = await setup([
      { config: memberConfig('u', { protocol: 'unix', address: '/tmp/r.sock' }) },
    ]);
    await local.cluster.handle(notifyU());
    expect((local.members.get('u')!.commandsOf('U')[0] as UpdateCommand).notify).toEqual({
      socket: 'unix:/run/kam/notify_w1',
      tag: 'T42',
    });
  });
});
