import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { flush, ScriptedMember } from '../test/scripted.js';
import { adminCommand, formatAdminAddress } from './admin.js';
import { RtpBalancer } from './balancer.js';
import { parseRtpClusterConfig } from './config/schema.js';

const member = (name: string, address: string, protocol = 'udp', extra = {}) => ({
  name,
  protocol,
  address,
  weight: 100,
  capacity: 2500,
  status: 'ACTIVE',
  ...extra,
});

async function setup() {
  const scripted = new Map<string, ScriptedMember>();
  const config = parseRtpClusterConfig({
    clusters: [
      {
        name: 'basic_network',
        protocol: 'udp',
        address: '127.0.0.1:32324',
        rtpproxies: [
          member('RTPPROXY0', '/tmp/rtpp0.sock', 'unix', {
            wan_address: '1.2.3.4',
            lan_address: '127.0.0.1',
          }),
          member('RTPPROXY1', '127.0.0.1:32323'),
          member('RTPPROXY2', '[::1]:32322', 'udp6'),
        ],
      },
    ],
  });
  const timers = new VirtualClock();
  const balancer = new RtpBalancer(config, {
    timers,
    connect: (mc) => {
      const m = new ScriptedMember(mc.name);
      if (mc.name === 'RTPPROXY2') m.failure = 'timeout';
      scripted.set(mc.name, m);
      return m;
    },
  });
  await balancer.start();
  await flush();
  let reloads = 0;
  const ctx = {
    balancer,
    reload: async () => {
      reloads++;
      const r = await balancer.reload(config);
      return { clusters: r.clusters, members: r.members };
    },
  };
  return { ctx, balancer, scripted, timers, reloads: () => reloads };
}

describe('rtp_cluster admin protocol', () => {
  it('prints ls exactly as rtp_cluster does', async () => {
    const { ctx } = await setup();
    expect((await adminCommand(ctx, 'ls')).text).toBe(
      [
        'Cluster: #0',
        '    name = basic_network',
        "    address = ('127.0.0.1', 32324)",
        '    online members = 2 (2 active, 0 suspended, 0 draining)',
        '    offline members = 1',
        'OK',
        '',
      ].join('\n'),
    );
  });

  it('prints ls <cluster> with online members sorted by name and offline members after', async () => {
    const { ctx } = await setup();
    await adminCommand(ctx, 'modify basic_network pause RTPPROXY1');
    const text = (await adminCommand(ctx, 'ls basic_network')).text;
    expect(text).toBe(
      [
        'Online members of the cluster #0:',
        '    RTPproxy: #0',
        '        name = RTPPROXY0',
        '        address = /tmp/rtpp0.sock',
        '        wan_address = 1.2.3.4',
        '        lan_address = 127.0.0.1',
        '        weight = 100',
        '        capacity = 2500',
        '        state = online',
        '        active sessions = 0',
        '        capacity utilization = 0.000000%',
        '        average rtpc delay = 0.000000 sec',
        '        status = ACTIVE',
        '',
        '    RTPproxy: #1',
        '        name = RTPPROXY1',
        "        address = ('127.0.0.1', 32323)",
        '        weight = 100',
        '        capacity = 2500',
        '        state = online',
        '        active sessions = 0',
        '        capacity utilization = 0.000000%',
        '        average rtpc delay = 0.000000 sec',
        '        status = SUSPENDED',
        '',
        'Offline members of the cluster #0:',
        '    RTPproxy: #0',
        '        name = RTPPROXY2',
        "        address = ('[::1]', 32322)",
        '        weight = 100',
        '        capacity = 2500',
        '        state = offline',
        'OK',
        '',
      ].join('\n'),
    );
  });

  it('answers the error texts of rtp_cluster', async () => {
    const { ctx } = await setup();
    expect((await adminCommand(ctx, 'ls nosuch')).text).toBe('ERROR: nosuch: cluster not found\n');
    expect((await adminCommand(ctx, 'modify nosuch pause x')).text).toBe(
      'ERROR: nosuch: cluster not found\n',
    );
    expect((await adminCommand(ctx, 'modify basic_network pause nobody')).text).toBe(
      'ERROR: nobody: RTPproxy not found\n',
    );
    expect((await adminCommand(ctx, 'modify basic_network explode RTPPROXY1')).text).toBe(
      'ERROR: unsupported action: "explode"\n',
    );
    expect((await adminCommand(ctx, 'frobnicate')).text).toBe('ERROR: unknown command\n');
    expect(
      (await adminCommand(ctx, 'modify basic_network add name=RTPPROXY1,protocol=udp')).text,
    ).toBe('ERROR: RTPPROXY1: RTPproxy already exists\n');
  });

  it('adds a member (status optional), refusing bad fields with an ERROR line instead of a dropped connection', async () => {
    const { ctx, balancer } = await setup();
    const bad = await adminCommand(
      ctx,
      'modify basic_network add name=n,protocol=udp,address=127.0.0.1:4000',
    );
    expect(bad).toEqual({
      text: 'ERROR: weight: Invalid input: expected number, received NaN\n',
      close: false,
    });
    const good = await adminCommand(
      ctx,
      'modify basic_network add name=n,protocol=udp,address=127.0.0.1:4000,weight=5,capacity=10',
    );
    expect(good.text).toBe('OK\n');
    await flush();
    const n = balancer.cluster('basic_network')!.member('n')!;
    expect(n).toMatchObject({ status: 'ACTIVE', state: 'online', weight: 5 });
  });

  it('pause, resume and delete', async () => {
    const { ctx, balancer } = await setup();
    const cluster = balancer.cluster('basic_network')!;
    expect((await adminCommand(ctx, 'modify basic_network pause RTPPROXY1')).text).toBe('OK\n');
    expect(cluster.member('RTPPROXY1')!.status).toBe('SUSPENDED');
    expect((await adminCommand(ctx, 'modify basic_network resume RTPPROXY1')).text).toBe('OK\n');
    expect(cluster.member('RTPPROXY1')!.status).toBe('ACTIVE');
    expect((await adminCommand(ctx, 'modify basic_network delete RTPPROXY1')).text).toBe('OK\n');
    await flush();
    expect(cluster.member('RTPPROXY1')).toBeUndefined();
    expect((await adminCommand(ctx, 'ls')).text).toContain('online members = 1 (1 active');
  });

  it('reloads, help and quit', async () => {
    const { ctx, reloads } = await setup();
    expect((await adminCommand(ctx, 'reload')).text).toBe(
      'Loaded 1 clusters and 3 RTP proxies\nOK\n',
    );
    expect(reloads()).toBe(1);
    expect((await adminCommand(ctx, 'help')).text).toMatch(
      /^Supported commands:\n\tls \[CLUSTER_NAME\]\n/,
    );
    expect(await adminCommand(ctx, 'quit')).toEqual({ text: '', close: true });
  });

  it('formats addresses as rtp_cluster does', () => {
    expect(formatAdminAddress('udp', '127.0.0.1')).toBe("('127.0.0.1', 22222)");
    expect(formatAdminAddress('udp6', '[::1]:5')).toBe("('[::1]', 5)");
    expect(formatAdminAddress('unix', '/x.sock')).toBe('/x.sock');
  });
});
