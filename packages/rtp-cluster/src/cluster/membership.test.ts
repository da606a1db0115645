/** RtpCluster: drain, pause and resume (membership.ts), and the capacity limit. */
import { describe, expect, it } from 'vitest';
import { flush, memberConfig } from '../../test/scripted.js';
import { D, L, setup, U } from './cluster.test.setup.js';

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
    await timers.advanceAsync(1_000);
    expect(cluster.member('a')).toBeDefined();
    await cluster.handle(D('c1', 'f'));
    await timers.advanceAsync(1_000);
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
