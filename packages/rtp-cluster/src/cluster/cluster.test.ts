/** RtpCluster: routing session commands (binding, failover, broadcast lookups, E-codes). */
import type { RtppCommand, UpdateCommand } from '@sipedge/rtpp';
import { describe, expect, it } from 'vitest';
import { memberConfig } from '../../test/scripted.js';
import { D, L, port, Q, setup, U } from './cluster.test.setup.js';
import { balancerParseErrorCode } from './replies.js';

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
    await timers.advanceAsync(3_000); // three failed heartbeats
    expect(cluster.member('a')!.state).toBe('offline');
    expect(await cluster.handle(U('c', 'f'))).toEqual({ kind: 'error', code: 999 });
    members.get('a')!.failure = undefined;
    await timers.advanceAsync(1_000);
    expect(cluster.member('a')!.state).toBe('online');
    expect(events.map((e) => e.type)).toEqual(['member_up', 'member_down', 'member_up']);
    expect(members.get('a')!.commandsOf('VF').length).toBeGreaterThanOrEqual(2 * 20); // re-probed capabilities
  });

  it('counts a member answering garbage as failing', async () => {
    const { cluster, members, timers } = await setup([{ config: memberConfig('a') }]);
    members.get('a')!.failure = 'garbage';
    await timers.advanceAsync(3_000);
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
    await timers.advanceAsync(3_000);
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
