/** RtpCluster: calls per command source, and X scoped to its sender. */
import { describe, expect, it } from 'vitest';
import { flush, memberConfig } from '../../test/scripted.js';
import type { RtpCluster } from './cluster.js';
import { D, port, setup, U } from './cluster.test.setup.js';

/** answerText's reply, for a command it must take. */
function answer(cluster: RtpCluster, text: string, source: string): Promise<string> {
  return new Promise((resolve) => {
    expect(cluster.answerText(text, resolve, source), text).toBe(true);
  });
}

describe('calls per command source', () => {
  it('300 U from one sender: over its cap E72 (counted); another sender and the node itself still get sessions', async () => {
    const { cluster, members } = await setup([{ config: memberConfig('a') }], {}, () => 0, {
      maxSessionsPerSource: 20,
    });
    const replies = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        answer(cluster, `U flood${i} 127.0.0.1 7000 f`, '10.0.0.9'),
      ),
    );
    expect(replies.filter((r) => r === 'E72\n')).toHaveLength(280);
    expect(members.get('a')!.sessions).toHaveLength(20);
    expect(cluster.counters.sourceLimited).toBe(280);
    expect(await answer(cluster, 'U real 127.0.0.1 7000 f', '10.0.0.1')).toMatch(/^35\d+ /);
    expect(port(await cluster.handle(U('real-parsed', 'f'), '10.0.0.1'))).toBeGreaterThan(0);
    expect(port(await cluster.handle(U('node-own', 'f')))).toBeGreaterThan(0);
    expect(port(await cluster.handle(U('flood-parsed', 'f'), '10.0.0.9'))).toBe(-1);
  });

  it('a deleted call frees its slot; commands of held calls are never refused', async () => {
    const { cluster } = await setup([{ config: memberConfig('a') }], {}, () => 0, {
      maxSessionsPerSource: 2,
    });
    const src = '10.0.0.9';
    await cluster.handle(U('c1', 'f'), src);
    await answer(cluster, 'U c2 127.0.0.1 7000 g', src);
    expect(await answer(cluster, 'U c3 127.0.0.1 7000 h', src)).toBe('E72\n');
    expect(await answer(cluster, 'U c1 127.0.0.1 7002 f;2', src)).toMatch(/^35\d+ /);
    expect(await cluster.handle(D('c1', 'f'), src)).toEqual({ kind: 'value', value: '0' });
    expect(await answer(cluster, 'U c3 127.0.0.1 7000 h', src)).toMatch(/^35\d+ /);
  });

  it('new sessions being placed count against the cap', async () => {
    const { cluster, members } = await setup([{ config: memberConfig('a') }], {}, () => 0, {
      maxSessionsPerSource: 3,
    });
    const all = Array.from({ length: 5 }, (_, i) => cluster.handle(U(`p${i}`, 'f'), '10.0.0.9'));
    const replies = await Promise.all(all);
    expect(replies.filter((r) => r.kind === 'error')).toHaveLength(2);
    expect(members.get('a')!.sessions).toHaveLength(3);
  });

  it('the default cap is 90% of the members’ summed capacity', async () => {
    const { cluster } = await setup([
      { config: memberConfig('a', { capacity: 3 }) },
      { config: memberConfig('b', { capacity: 2 }) },
    ]);
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await cluster.handle(U(`c${i}`, 'f'), '10.0.0.9'));
    expect(replies.map((r) => r.kind)).toEqual(['port', 'port', 'port', 'port', 'error', 'error']);
  });
});

describe('X from a command source', () => {
  it('deletes only the calls that source created, on their members, and leaves the rest', async () => {
    let r = 0;
    const { cluster, members } = await setup(
      [{ config: memberConfig('a') }, { config: memberConfig('b') }],
      {},
      () => [0.1, 0.9][r++ % 2]!,
    );
    await cluster.handle(U('x1', 'fx;1'), '10.0.0.9');
    await answer(cluster, 'U x2 127.0.0.1 7000 fx2', '10.0.0.9');
    await cluster.handle(U('x1', 'fx;2'), '10.0.0.9');
    await cluster.handle(U('k1', 'fk'), '10.0.0.1');
    await cluster.handle(U('own', 'fo'));
    expect(await cluster.handle({ kind: 'X', modifiers: '' } as never, '10.0.0.9')).toEqual({
      kind: 'value',
      value: '0',
    });
    await flush();
    const left = [...members.values()].flatMap((m) => m.sessions.map((s) => s.callId)).sort();
    expect(left).toEqual(['k1', 'own']);
    for (const m of members.values()) expect(m.commandsOf('X')).toEqual([]);
    expect(cluster.callTable.liveCalls('a') + cluster.callTable.liveCalls('b')).toBe(2);
    // its slots are free again
    expect(port(await cluster.handle(U('x3', 'f'), '10.0.0.9'))).toBeGreaterThan(0);
  });

  it('an in-process X (no source) still flushes every member', async () => {
    const { cluster, members } = await setup([{ config: memberConfig('a') }]);
    await cluster.handle(U('k1', 'fk'), '10.0.0.1');
    await cluster.handle({ kind: 'X', modifiers: '' } as never);
    expect(members.get('a')!.commandsOf('X')).toHaveLength(1);
    expect(members.get('a')!.sessions).toEqual([]);
  });
});
