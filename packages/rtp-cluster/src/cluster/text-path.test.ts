/** RtpCluster: the text fast path (answerText, handleText) against the parsed one. */
import { describe, expect, it } from 'vitest';
import { flush, memberConfig } from '../../test/scripted.js';
import type { RtpCluster } from './cluster.js';
import { D, port, setup, U } from './cluster.test.setup.js';

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
    await down.timers.advanceAsync(3_000);
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
    await timers.advanceAsync(3_000);
    expect(await text(cluster, 'U c 127.0.0.1 7000 f')).toBe('E999\n');
    expect(cluster.counters.noMember).toBe(2);
  });
});
