import { callCommand, createMiCore, MiRegistry, MiRpcError } from '@sipedge/mi';
import { describe, expect, it } from 'vitest';
import { flush, ScriptedMember } from '../test/scripted.js';
import { RtpBalancer } from './balancer.js';
import { parseRtpClusterConfig } from './config/schema.js';
import { miCommands, raiseRtpClusterEvent, registerRtpClusterStatistics } from './mi.js';

async function setup() {
  const core = createMiCore({ eventSockets: false });
  const raised: string[] = [];
  const balancer = new RtpBalancer(
    parseRtpClusterConfig({
      clusters: [
        {
          name: 'c',
          protocol: 'udp',
          address: '127.0.0.1:1',
          rtpproxies: [
            {
              name: 'a',
              protocol: 'udp',
              address: '127.0.0.1:2',
              weight: 1,
              capacity: 10,
              status: 'ACTIVE',
            },
          ],
        },
      ],
    }),
    {
      connect: (mc) => new ScriptedMember(mc.name),
      onEvent: (e) => {
        raised.push(e.type);
        raiseRtpClusterEvent(core.events, e);
      },
    },
  );
  let reloads = 0;
  core.registry.register(
    miCommands(balancer, {
      reload: async () => {
        reloads++;
        return { clusters: 1, members: 1 };
      },
    }),
  );
  registerRtpClusterStatistics(core.stats, balancer);
  await balancer.start();
  await flush();
  return { core, balancer, raised, reloads: () => reloads };
}

describe('rtp-cluster MI commands', () => {
  it('lists clusters and members as JSON', async () => {
    const { core } = await setup();
    const list = (await callCommand(core.registry, 'rtp_cluster_list', {})) as {
      Clusters: {
        name: string;
        members: { name: string; state: string; status: string; capabilities: string[] }[];
      }[];
    };
    expect(list.Clusters[0]).toMatchObject({
      name: 'c',
      members: [{ name: 'a', state: 'online', status: 'ACTIVE' }],
    });
    expect(list.Clusters[0]!.members[0]!.capabilities).toContain('20050322');
    await expect(callCommand(core.registry, 'rtp_cluster_list', ['nope'])).rejects.toMatchObject({
      rpcCode: 404,
      message: 'nope: cluster not found',
    });
  });

  it('shows the control sockets it is told of instead of the configured address', async () => {
    const { balancer } = await setup();
    const plain = new MiRegistry();
    plain.register(...miCommands(balancer));
    expect(await callCommand(plain, 'rtp_cluster_list', {})).toMatchObject({
      Clusters: [{ protocol: 'udp', address: '127.0.0.1:1' }],
    });
    const embedded = new MiRegistry();
    embedded.register(...miCommands(balancer, { controlSockets: () => ['udp:127.0.0.1:22230'] }));
    const list = (await callCommand(embedded, 'rtp_cluster_list', {})) as {
      Clusters: Record<string, unknown>[];
    };
    expect(list.Clusters[0]?.control_sockets).toEqual(['udp:127.0.0.1:22230']);
    expect(list.Clusters[0]).not.toHaveProperty('address');
  });

  it('adds, pauses, resumes and deletes members, with 400/404 errors', async () => {
    const { core, balancer } = await setup();
    const add = {
      cluster: 'c',
      name: 'b',
      protocol: 'udp',
      address: '127.0.0.1:3',
      weight: 2,
      capacity: 5,
    };
    expect(await callCommand(core.registry, 'rtp_cluster_add', add)).toBe('OK');
    await expect(callCommand(core.registry, 'rtp_cluster_add', add)).rejects.toMatchObject({
      rpcCode: 400,
    });
    await expect(
      callCommand(core.registry, 'rtp_cluster_add', { ...add, name: 'x', weight: 0 }),
    ).rejects.toBeInstanceOf(MiRpcError);
    expect(await callCommand(core.registry, 'rtp_cluster_pause', ['c', 'b'])).toBe('OK');
    expect(balancer.cluster('c')!.member('b')!.status).toBe('SUSPENDED');
    expect(
      await callCommand(core.registry, 'rtp_cluster_resume', { cluster: 'c', member: 'b' }),
    ).toBe('OK');
    expect(balancer.cluster('c')!.member('b')!.status).toBe('ACTIVE');
    await expect(
      callCommand(core.registry, 'rtp_cluster_pause', ['c', 'zz']),
    ).rejects.toMatchObject({
      rpcCode: 404,
      message: 'zz: RTPproxy not found',
    });
    await flush();
    expect(await callCommand(core.registry, 'rtp_cluster_delete', ['c', 'b'])).toBe('OK');
    await flush();
    expect(balancer.cluster('c')!.member('b')).toBeUndefined();
  });

  it('raises member events on the bus, counts statistics, and reloads', async () => {
    const { core, raised, reloads } = await setup();
    expect(raised).toContain('member_up');
    const stats = (await callCommand(core.registry, 'get_statistics', {
      statistics: ['rtp_cluster:'],
    })) as Record<string, number>;
    expect(stats['rtp_cluster:members_online']).toBe(1);
    expect(stats['rtp_cluster:members_online{cluster=c}']).toBe(1);
    expect(stats['rtp_cluster:relay_up{cluster=c,relay=a}']).toBe(1);
    expect(stats['rtp_cluster:relay_commands{cluster=c,relay=a}']).toBe(0);
    const text = core.stats.toPrometheus();
    expect(text).toContain('# TYPE sipedge_rtp_cluster_commands_total counter');
    expect(text).toContain('sipedge_rtp_cluster_relay_up{cluster="c",relay="a"} 1');
    expect(text).toMatch(
      /^sipedge_rtp_cluster_relay_rtt_seconds\{cluster="c",relay="a"\} [\d.e-]+$/m,
    );
    expect(await callCommand(core.registry, 'rtp_cluster_reload', {})).toEqual({
      clusters: 1,
      members: 1,
    });
    expect(reloads()).toBe(1);
    const events = (await callCommand(core.registry, 'events_list', {})) as {
      Events: { name: string }[];
    };
    expect(JSON.stringify(events)).toContain('E_RTP_CLUSTER_MEMBER_UP');
  });
});
