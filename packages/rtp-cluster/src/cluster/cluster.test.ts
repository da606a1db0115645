import type { RtppCommand, RtppReply, UpdateCommand } from '@sipedge/rtpp';
import { describe, expect, it } from 'vitest';
import type { ClusterConfig, MemberConfig } from '../config/schema.js';
import {
  flush,
  memberConfig,
  ScriptedMember,
  type ScriptedMemberOptions,
  VirtualTimers,
} from '../testing/scripted.js';
import { balancerParseErrorCode, RtpCluster, type RtpClusterEvent } from './cluster.js';

interface Setup {
  cluster: RtpCluster;
  timers: VirtualTimers;
  members: Map<string, ScriptedMember>;
  events: RtpClusterEvent[];
}

async function setup(
  specs: { config: MemberConfig; options?: ScriptedMemberOptions }[],
  extra: Partial<ClusterConfig> = {},
  random: () => number = () => 0,
): Promise<Setup> {
  const timers = new VirtualTimers();
  const members = new Map<string, ScriptedMember>();
  const events: RtpClusterEvent[] = [];
  const config: ClusterConfig = {
    name: 'c',
    protocol: 'udp',
    address: '127.0.0.1:22222',
    capacity_limit: 'soft',
    rtpproxies: specs.map((s) => s.config),
    ...extra,
  };
  const cluster = new RtpCluster(config, {
    timers,
    random,
    connect: (mc) => {
      const spec = specs.find((s) => s.config.name === mc.name);
      const m = new ScriptedMember(mc.name, spec?.options ?? {});
      members.set(mc.name, m);
      return m;
    },
    onEvent: (e) => events.push(e),
  });
  cluster.start();
  await flush();
  return { cluster, timers, members, events };
}

const U = (callId: string, from: string, to?: string, extra: Partial<UpdateCommand> = {}) =>
  ({
    kind: 'U',
    modifiers: '',
    mods: {
      asymmetric: false,
      symmetric: false,
      ipv6: false,
      weak: false,
      newPort: false,
      bridge: [],
      unknown: '',
    },
    callId,
    remoteIp: '127.0.0.1',
    remotePort: '6000',
    fromTag: from,
    subcommands: [],
    ...(to === undefined ? {} : { toTag: to }),
    ...extra,
  }) as UpdateCommand;
const L = (callId: string, from: string, to: string): UpdateCommand => ({
  ...U(callId, from, to),
  kind: 'L',
});
const D = (callId: string, from: string, to?: string): RtppCommand =>
  ({
    kind: 'D',
    modifiers: '',
    weak: false,
    callId,
    fromTag: from,
    ...(to ? { toTag: to } : {}),
  }) as RtppCommand;
const Q = (callId: string, from: string): RtppCommand =>
  ({
    kind: 'Q',
    modifiers: '',
    verbose: false,
    callId,
    fromTag: from,
    counters: [],
    subcommands: [],
  }) as RtppCommand;

const port = (r: RtppReply) => (r.kind === 'port' ? r.port : -1);

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

describe('sessions', () => {
  it('binds a call to the member that confirmed it and sends every later command there', async () => {
    let r = 0;
    const { cluster, members } = await setup(
      [{ config: memberConfig('a') }, { config: memberConfig('b') }],
      {},
      () => [0.1, 0.9, 0.1][r++ % 3]!,
    );
    expect(cluster.members.map((m) => m.state)).toEqual(['online', 'online']);
    expect(port(await cluster.handle(U('call-1', 'ft;1')))).toBeGreaterThan(0); // a
    expect(port(await cluster.handle(U('call-2', 'fx;1')))).toBeGreaterThan(0); // b
    await cluster.handle(U('call-1', 'ft;2')); // second media number: same member, no new draw
    await cluster.handle(L('call-1', 'ft;1', 'tt;1'));
    await cluster.handle(D('call-1', 'ft', 'tt'));
    const a = members.get('a')!;
    const b = members.get('b')!;
    expect(
      a.received.filter((c) => 'callId' in c && c.callId === 'call-1').map((c) => c.kind),
    ).toEqual(['U', 'U', 'L', 'D']);
    expect(b.received.filter((c) => 'callId' in c && c.callId === 'call-1')).toHaveLength(0);
    expect(b.sessions.map((s) => s.callId)).toEqual(['call-2']);
  });

  it('sends N and R to the member holding the call, not to the first member', async () => {
    let r = 0;
    const { cluster, members } = await setup(
      [{ config: memberConfig('a') }, { config: memberConfig('b') }],
      {},
      () => [0.9][r++ % 1]!,
    );
    await cluster.handle(U('rec', 'ft;1')); // → b
    const n = {
      kind: 'N',
      modifiers: '',
      both: false,
      callId: 'rec',
      fromTag: 'ft',
    } as RtppCommand;
    const rec = {
      kind: 'R',
      modifiers: '',
      single: false,
      callId: 'rec',
      fromTag: 'ft',
    } as RtppCommand;
    expect(await cluster.handle(rec)).toEqual({ kind: 'value', value: '0' });
    expect(await cluster.handle(n)).toEqual({ kind: 'value', value: '0' });
    expect(members.get('a')!.received.filter((c) => c.kind === 'N' || c.kind === 'R')).toHaveLength(
      0,
    );
    expect(members.get('b')!.received.filter((c) => c.kind === 'N' || c.kind === 'R')).toHaveLength(
      2,
    );
  });

  it('keeps concurrent media numbers of a new call on one member', async () => {
    let r = 0;
    const { cluster, members } = await setup(
      [{ config: memberConfig('a') }, { config: memberConfig('b') }],
      {},
      () => [0.1, 0.9][r++ % 2]!,
    );
    await Promise.all([
      cluster.handle(U('c', 'f;1')),
      cluster.handle(U('c', 'f;2')),
      cluster.handle(U('c', 'f;3')),
    ]);
    expect(members.get('a')!.sessions).toHaveLength(3);
    expect(members.get('b')!.sessions).toHaveLength(0);
  });

  it('binds only after the member confirms: a refused U leaves the call unbound', async () => {
    const { cluster, members } = await setup([{ config: memberConfig('a') }]);
    members.get('a')!.override = (c) => (c.kind === 'U' ? { kind: 'error', code: 72 } : undefined);
    expect(await cluster.handle(U('c', 'f'))).toEqual({ kind: 'error', code: 72 });
    expect(cluster.callTable.lookup('c')).toBeUndefined();
  });

  it('fails a new session over to another member when the first does not answer', async () => {
    let r = 0;
    const { cluster, members } = await setup(
      [{ config: memberConfig('a') }, { config: memberConfig('b') }],
      {},
      () => [0.1, 0.1][r++ % 2]!,
    );
    members.get('a')!.failure = 'timeout';
    expect(port(await cluster.handle(U('c', 'f')))).toBeGreaterThan(0);
    expect(members.get('b')!.sessions.map((s) => s.callId)).toEqual(['c']);
    expect(cluster.callTable.lookup('c')).toBe('b');
    expect(cluster.counters.failovers).toBe(1);
    // one lost command does not take a member offline (rtp_cluster: offline for a minute)
    expect(cluster.member('a')!.state).toBe('online');
  });

  it('takes a member offline after consecutive failures and back online after a re-probe', async () => {
    const { cluster, members, timers, events } = await setup([{ config: memberConfig('a') }]);
    members.get('a')!.failure = 'timeout';
    await timers.advance(3_000); // three failed heartbeats
    expect(cluster.member('a')!.state).toBe('offline');
    expect(await cluster.handle(U('c', 'f'))).toEqual({ kind: 'error', code: 999 });
    members.get('a')!.failure = undefined;
    await timers.advance(1_000);
    expect(cluster.member('a')!.state).toBe('online');
    expect(events.map((e) => e.type)).toEqual(['member_up', 'member_down', 'member_up']);
    expect(members.get('a')!.commandsOf('VF').length).toBeGreaterThanOrEqual(2 * 20); // re-probed capabilities
  });

  it('counts a member answering garbage as failing', async () => {
    const { cluster, members, timers } = await setup([{ config: memberConfig('a') }]);
    members.get('a')!.failure = 'garbage';
    await timers.advance(3_000);
    expect(cluster.member('a')!.state).toBe('offline');
    expect(cluster.member('a')!.counters.garbage).toBeGreaterThanOrEqual(3);
  });

  it('looks up an unknown call by broadcast and binds it to the one positive responder, not the last', async () => {
    const { cluster, members } = await setup([
      { config: memberConfig('a') },
      { config: memberConfig('b') },
      { config: memberConfig('c') },
    ]);
    members.get('b')!.sessions.push({ callId: 'old', fromTag: 'ft;1', port: 40000 });
    const reply = await cluster.handle(L('old', 'ft;1', 'tt;1'));
    expect(port(reply)).toBeGreaterThan(0);
    expect(cluster.callTable.lookup('old')).toBe('b');
    await cluster.handle(D('old', 'ft', 'tt'));
    expect(members.get('a')!.commandsOf('D')).toHaveLength(0);
    expect(members.get('b')!.commandsOf('D')).toHaveLength(1);
  });

  it('turns a U with to_tag for an unknown call into a forced lookup (tags swapped, notify dropped)', async () => {
    const { cluster, members } = await setup([
      { config: memberConfig('a') },
      { config: memberConfig('b') },
    ]);
    members.get('b')!.sessions.push({ callId: 'x', fromTag: 'tt;1', port: 40000 });
    const cmd = U('x', 'ft;1', 'tt;1', { notify: { socket: 'unix:/tmp/n', tag: 'T1' } });
    expect(port(await cluster.handle(cmd))).toBeGreaterThan(0);
    const sent = members.get('a')!.commandsOf('L')[0] as UpdateCommand;
    expect(sent).toMatchObject({ kind: 'L', fromTag: 'tt;1', toTag: 'ft;1' });
    expect(sent.notify).toBeUndefined();
    expect(cluster.callTable.lookup('x')).toBe('b');
  });

  it('creates the session when a U with to_tag matches nobody, as rtpproxy U does', async () => {
    const { cluster, members } = await setup([{ config: memberConfig('a') }]);
    expect(port(await cluster.handle(U('fresh', 'ft;1', 'tt;1')))).toBeGreaterThan(0);
    expect(members.get('a')!.sessions.map((s) => s.callId)).toEqual(['fresh']);
  });

  it('answers an L miss with 0 and an unknown D with E50', async () => {
    const { cluster } = await setup([{ config: memberConfig('a') }, { config: memberConfig('b') }]);
    expect(await cluster.handle(L('nosuch', 'a', 'b'))).toEqual({
      kind: 'port',
      port: 0,
      ipv6: false,
      subResults: [],
    });
    expect(await cluster.handle(D('nosuch', 'a'))).toEqual({ kind: 'error', code: 50 });
  });

  it('answers D for a call whose member is offline at once', async () => {
    const { cluster, members, timers } = await setup([{ config: memberConfig('a') }]);
    await cluster.handle(U('c', 'f'));
    members.get('a')!.failure = 'timeout';
    await timers.advance(3_000);
    expect(await cluster.handle(D('c', 'f'))).toEqual({ kind: 'value', value: '0' });
  });

  it('never sends Q to a member without per-session statistics (rtpengine hangs on it)', async () => {
    const { cluster, members } = await setup([
      { config: memberConfig('e'), options: { capabilities: ['20050322'], noInfo: true } },
    ]);
    expect(cluster.member('e')!.state).toBe('online'); // V heartbeat when I is refused
    await cluster.handle(U('c', 'f'));
    expect(await cluster.handle(Q('c', 'f'))).toEqual({ kind: 'error', code: 0 });
    expect(await cluster.handle(Q('unknown', 'f'))).toEqual({ kind: 'error', code: 50 });
    expect(members.get('e')!.commandsOf('Q')).toHaveLength(0);
  });
});

describe('error codes a SIP proxy reads as "proxy broken"', () => {
  it('turns a member E7–E10 into E997 and never rewrites the harmless ones', async () => {
    const { cluster, members } = await setup([{ config: memberConfig('a') }]);
    await cluster.handle(U('c', 'f'));
    members.get('a')!.override = (c) => (c.kind === 'D' ? { kind: 'error', code: 8 } : undefined);
    expect(await cluster.handle(D('c', 'f'))).toEqual({ kind: 'error', code: 997 });
    expect(cluster.counters.memberFailures).toBe(1);
    // OpenSIPS reads a 1.x member's E8 to Q as "not found"; a broadcast passes no E7–E10 on either
    members.get('a')!.override = (c) => (c.kind === 'Q' ? { kind: 'error', code: 8 } : undefined);
    expect(await cluster.handle(Q('unknown', 'f'))).toEqual({ kind: 'error', code: 997 });
    members.get('a')!.override = (c) => (c.kind === 'U' ? { kind: 'error', code: 72 } : undefined);
    expect(await cluster.handle(U('c2', 'f'))).toEqual({ kind: 'error', code: 72 });
  });

  it('maps a client parse error E7–E10 to E2/E5', () => {
    expect([6, 7, 8, 9, 10, 11, 50].map(balancerParseErrorCode)).toEqual([6, 2, 2, 2, 5, 11, 50]);
  });
});

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

describe('drain, pause, resume', () => {
  it('pause stops new sessions on a member; its calls keep working', async () => {
    let r = 0;
    const { cluster, members } = await setup(
      [{ config: memberConfig('a') }, { config: memberConfig('b') }],
      {},
      () => [0.1, 0.1, 0.1][r++ % 3]!,
    );
    await cluster.handle(U('c1', 'f'));
    expect(cluster.callTable.lookup('c1')).toBe('a');
    cluster.pauseMember('a');
    await cluster.handle(U('c2', 'f'));
    expect(cluster.callTable.lookup('c2')).toBe('b');
    await cluster.handle(L('c1', 'f', 't'));
    expect(members.get('a')!.commandsOf('L')).toHaveLength(1);
    cluster.resumeMember('a');
    await cluster.handle(U('c3', 'f'));
    expect(cluster.callTable.lookup('c3')).toBe('a');
  });

  it('delete drains: no new sessions, removed when its last call ends', async () => {
    const { cluster, members, timers, events } = await setup([
      { config: memberConfig('a') },
      { config: memberConfig('b') },
    ]);
    await cluster.handle(U('c1', 'f')); // random 0 → a
    cluster.drainMember('a');
    expect(cluster.member('a')!.status).toBe('DRAINING');
    await cluster.handle(U('c2', 'f'));
    expect(cluster.callTable.lookup('c2')).toBe('b');
    await timers.advance(1_000);
    expect(cluster.member('a')).toBeDefined();
    await cluster.handle(D('c1', 'f'));
    await timers.advance(1_000);
    expect(cluster.member('a')).toBeUndefined();
    expect(members.get('a')!.closed).toBe(true);
    expect(events.map((e) => e.type)).toContain('member_removed');
  });

  it('removes an idle member at once on delete', async () => {
    const { cluster } = await setup([{ config: memberConfig('a') }, { config: memberConfig('b') }]);
    cluster.drainMember('b');
    await flush();
    expect(cluster.members.map((m) => m.name)).toEqual(['a']);
  });

  it('hard capacity limit refuses new sessions when every member is full', async () => {
    const { cluster } = await setup([{ config: memberConfig('a', { capacity: 1 }) }], {
      capacity_limit: 'hard',
    });
    await cluster.handle(U('c1', 'f'));
    expect(await cluster.handle(U('c2', 'f'))).toEqual({ kind: 'error', code: 998 });
  });
});

describe('timeout notifications', () => {
  const notifyU = () =>
    U('n', 'f', undefined, { notify: { socket: 'unix:/run/kam/notify_w1', tag: 'T42' } });

  it('rewrites notify args for network members through the disconnect relay', async () => {
    const timers = new VirtualTimers();
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

describe('text fast path (handleText)', () => {
  /** The reply text of handleText, which must take the command. */
  const text = async (cluster: RtpCluster, command: string): Promise<string> => {
    const r = cluster.handleText(command);
    expect(r, command).toBeDefined();
    return r!;
  };

  it('keeps a U/L/D sequence on the member that took the call, as text, with counters', async () => {
    let r = 0;
    const { cluster, members } = await setup(
      [{ config: memberConfig('a') }, { config: memberConfig('b') }, { config: memberConfig('c') }],
      {},
      () => [0.9, 0.1, 0.5][r++ % 3]!,
    );
    expect(await text(cluster, 'U call-1 127.0.0.1 7000 f;1')).toBe('35000 127.0.0.1\n');
    expect(await text(cluster, 'U call-2 127.0.0.1 7000 g;1')).toBe('35000 127.0.0.1\n');
    const owner = cluster.callTable.lookup('call-1')!;
    expect(cluster.callTable.lookup('call-2')).not.toBe(owner);
    expect(await text(cluster, 'U call-1 127.0.0.1 7002 f;2')).toBe('35002 127.0.0.1\n');
    expect(await text(cluster, 'L call-1 127.0.0.1 8000 f;1 t;1')).toBe('35004 127.0.0.1\n');
    expect(await text(cluster, 'U call-1 127.0.0.1 7000 t;1 f;1')).toBe('35006 127.0.0.1\n');
    expect(await text(cluster, 'D call-1 f t')).toBe('0\n');
    // a late retransmit of the D (a new cookie, so not from the reply cache) reaches the same member
    expect(await text(cluster, 'D call-1 f t')).toBe('E50\n');
    const m = members.get(owner)!;
    expect(m.texts.filter((t) => t.includes('call-1'))).toEqual([
      'U call-1 127.0.0.1 7000 f;1',
      'U call-1 127.0.0.1 7002 f;2',
      'L call-1 127.0.0.1 8000 f;1 t;1',
      'U call-1 127.0.0.1 7000 t;1 f;1',
      'D call-1 f t',
      'D call-1 f t',
    ]);
    for (const [name, other] of members) {
      if (name !== owner) expect(other.texts.filter((t) => t.includes('call-1'))).toEqual([]);
    }
    expect(cluster.callTable.liveCalls(owner)).toBe(0); // deleted, still bound for late commands
    expect(cluster.callTable.lookup('call-1')).toBe(owner);
    expect(cluster.counters).toMatchObject({ commands: 7, newSessions: 2, broadcasts: 0 });
    expect(cluster.member(owner)!.counters).toMatchObject({ commands: 6, sessions: 1, errors: 1 });
  });

  it('makes commands of a call whose member is being chosen wait on the parsed path', async () => {
    const { cluster, members } = await setup([{ config: memberConfig('a') }]);
    const first = cluster.handleText('U c 127.0.0.1 7000 f;1')!;
    expect(cluster.handleText('U c 127.0.0.1 7002 f;2')).toBeUndefined();
    const second = cluster.handle(U('c', 'f;2'));
    expect(await first).toBe('35000 127.0.0.1\n');
    expect(port(await second)).toBe(35002);
    expect(members.get('a')!.sessions).toHaveLength(2);
  });

  it('answerText: respond once per taken command; a new call fails over to another member once', async () => {
    const { cluster, members } = await setup([
      { config: memberConfig('a') },
      { config: memberConfig('b') },
    ]);
    const replies: string[] = [];
    const respond = (body: string) => replies.push(body);
    expect(cluster.answerText('U c 127.0.0.1 70000 f', respond)).toBe(false);
    members.get('a')!.failure = 'timeout'; // random 0 picks a first
    expect(cluster.answerText('U c1 127.0.0.1 7000 f;1', respond)).toBe(true);
    expect(replies).toEqual([]); // never synchronously when a member is tried
    await flush();
    expect(replies).toEqual(['35000 127.0.0.1\n']);
    expect(cluster.callTable.lookup('c1')).toBe('b');
    expect(cluster.counters).toMatchObject({ failovers: 1, backendTimeouts: 1, newSessions: 1 });
    members.get('b')!.failure = 'timeout';
    expect(cluster.answerText('U c2 127.0.0.1 7000 f;1', respond)).toBe(true);
    await flush();
    expect(replies[1]).toBe('E997\n');
    expect(cluster.callTable.lookup('c2')).toBeUndefined();
    // no member may take a new session: answered at once
    cluster.pauseMember('a');
    cluster.pauseMember('b');
    expect(cluster.answerText('U c3 127.0.0.1 7000 f;1', respond)).toBe(true);
    expect(replies[2]).toBe('E998\n');
    expect(cluster.counters.noMember).toBe(1);
  });

  it('leaves anything unusual to the parsed path', async () => {
    const { cluster } = await setup([{ config: memberConfig('a') }]);
    for (const command of [
      'U c 127.0.0.1 7000 f t /var/run/notify tag', // notify arguments are rewritten or dropped
      'U c 127.0.0.1 7000 f t && L1.2.3.4',
      'U c 127.0.0.1 70000 f', // malformed: the parser's error code
      'Ux c 127.0.0.1 7000 f',
      'U unknown 127.0.0.1 7000 f t', // to_tag for an unknown call: forced lookup
      'L unknown 127.0.0.1 7000 f t', // unknown call: broadcast lookup
      'D unknown f',
      'Q c f',
      'V',
      'G',
    ]) {
      expect(cluster.handleText(command), command).toBeUndefined();
    }
    expect(cluster.counters.commands).toBe(0);
    // the forced lookup still happens on the parsed path: the call binds to its holder
    await text(cluster, 'U k 127.0.0.1 7000 f');
    expect(cluster.handleText('U k 127.0.0.1 7000 f t /var/run/notify tag')).toBeUndefined();
  });

  it('leaves members with wan_address or lan_address, and offline members, to the parsed path', async () => {
    const wan = await setup([{ config: memberConfig('a', { wan_address: '203.0.113.5' }) }]);
    expect(wan.cluster.handleText('U c 127.0.0.1 7000 f')).toBeUndefined();
    const mixed = await setup([
      { config: memberConfig('a') },
      { config: memberConfig('b', { lan_address: '10.0.0.7' }) },
    ]);
    expect(mixed.cluster.handleText('U c 127.0.0.1 7000 f')).toBeUndefined(); // b could be chosen
    await mixed.cluster.handle(U('c', 'f'));
    const owner = mixed.cluster.callTable.lookup('c');
    expect(mixed.cluster.handleText('D c f') === undefined).toBe(owner === 'b');
    const down = await setup([{ config: memberConfig('a') }]);
    await text(down.cluster, 'U c 127.0.0.1 7000 f');
    down.members.get('a')!.failure = 'timeout';
    await down.timers.advance(3_000);
    expect(down.cluster.member('a')!.state).toBe('offline');
    expect(down.cluster.handleText('D c f')).toBeUndefined();
    expect(await down.cluster.handle(D('c', 'f'))).toEqual({ kind: 'value', value: '0' });
  });

  it('turns a member E7–E10 into E997, passes other codes, binds only on a port', async () => {
    const { cluster, members } = await setup([{ config: memberConfig('a') }]);
    const a = members.get('a')!;
    a.textOverride = (t) => (t.startsWith('U') ? 'E72' : undefined);
    expect(await text(cluster, 'U c 127.0.0.1 7000 f')).toBe('E72\n');
    expect(cluster.callTable.lookup('c')).toBeUndefined();
    a.textOverride = (t) => (t.startsWith('U') ? '0' : undefined);
    expect(await text(cluster, 'U c 127.0.0.1 7000 f')).toBe('0\n');
    expect(cluster.callTable.lookup('c')).toBeUndefined();
    a.textOverride = undefined;
    await text(cluster, 'U c 127.0.0.1 7000 f');
    a.textOverride = (t) => (t.startsWith('D') ? 'E8' : undefined);
    expect(await text(cluster, 'D c f')).toBe('E997\n');
    expect(cluster.counters.memberFailures).toBe(1);
    expect(cluster.callTable.liveCalls('a')).toBe(1); // an error does not delete the call
    // an unusual but valid reply goes through the reply parser and serialiser
    a.textOverride = (t) => (t.startsWith('L') ? '03502 127.0.0.1' : undefined);
    expect(await text(cluster, 'L c 127.0.0.1 7000 f t')).toBe('3502 127.0.0.1\n');
    expect(cluster.member('a')!.counters.errors).toBe(2); // E72 and E8
  });

  it('counts a garbage reply as a member failure and fails a new session over on it', async () => {
    let r = 0;
    const { cluster, members } = await setup(
      [{ config: memberConfig('a') }, { config: memberConfig('b') }],
      {},
      () => [0.1, 0.1][r++ % 2]!,
    );
    members.get('a')!.textOverride = () => 'not a reply';
    expect(await text(cluster, 'U c 127.0.0.1 7000 f')).toBe('35000 127.0.0.1\n');
    expect(cluster.callTable.lookup('c')).toBe('b');
    expect(cluster.member('a')!.counters.garbage).toBe(1);
    expect(cluster.counters).toMatchObject({ failovers: 1, backendTimeouts: 1, newSessions: 1 });
    members.get('b')!.textOverride = () => 'not a reply';
    expect(await text(cluster, 'D c f')).toBe('E997\n');
    expect(cluster.member('b')!.counters.garbage).toBe(1);
  });

  it('fails a new session over when the first member does not answer', async () => {
    let r = 0;
    const { cluster, members } = await setup(
      [{ config: memberConfig('a') }, { config: memberConfig('b') }],
      {},
      () => [0.1, 0.1][r++ % 2]!,
    );
    members.get('a')!.failure = 'timeout';
    expect(await text(cluster, 'U c 127.0.0.1 7000 f')).toBe('35000 127.0.0.1\n');
    expect(cluster.callTable.lookup('c')).toBe('b');
    expect(cluster.member('a')!.counters.timeouts).toBe(1);
    expect(cluster.member('a')!.state).toBe('online');
    members.get('b')!.failure = 'timeout';
    expect(await text(cluster, 'D c f')).toBe('E997\n');
    expect(cluster.counters.backendTimeouts).toBe(2);
  });

  it('answers E999 with no member online and E998 when all are paused', async () => {
    const { cluster, members, timers } = await setup([{ config: memberConfig('a') }]);
    cluster.pauseMember('a');
    expect(await text(cluster, 'U c 127.0.0.1 7000 f')).toBe('E998\n');
    members.get('a')!.failure = 'timeout';
    await timers.advance(3_000);
    expect(await text(cluster, 'U c 127.0.0.1 7000 f')).toBe('E999\n');
    expect(cluster.counters.noMember).toBe(2);
  });
});
