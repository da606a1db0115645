/** The dashboard's Health checks: each alert rule of packaging/prometheus/alerts.yml, green and red. */
import { describe, expect, it } from 'vitest';
import {
  type ClusterFacts,
  clusterChecks,
  counterCheck,
  failureCounters,
  type HealthCheck,
  relayChecks,
  worst,
  worstFirst,
} from '../dashboard/src/health.js';

const states = (entries: [number, string][]) => new Map(entries);
const healthy: ClusterFacts = {
  self: 2,
  nodes: [
    { id: 1, label: 'node1', state: 'up' },
    { id: 2, label: 'node2', state: 'self' },
    { id: 3, label: 'node3', state: 'relayed' },
  ],
  tags: [
    {
      key: 'vip/1',
      states: states([
        [1, 'active'],
        [2, 'backup'],
        [3, 'backup'],
      ]),
    },
  ],
  caps: [{ name: 'usrloc-contact-repl', states: states([[2, 'synced']]) }],
};
const level = (checks: HealthCheck[], id: string) => checks.find((c) => c.id === id)?.level;

describe('dashboard Health checks', () => {
  it('a healthy cluster is all green', () => {
    const checks = [...clusterChecks(healthy), ...relayChecks([])];
    expect(checks.map((c) => c.level)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(worst(checks)).toBe('ok');
  });

  it('an unreachable node is critical and named', () => {
    const down = {
      ...healthy,
      nodes: healthy.nodes.map((n) => (n.id === 3 ? { ...n, state: 'down' } : n)),
    };
    const check = clusterChecks(down).find((c) => c.id === 'SipedgeNodeUnreachable');
    expect(check?.level).toBe('crit');
    expect(check?.text).toContain('node 3 (node3)');
  });

  it('a tag with no active node, or two, is critical', () => {
    const none = { ...healthy, tags: [{ key: 'vip/1', states: states([[2, 'backup']]) }] };
    expect(level(clusterChecks(none), 'SipedgeTagWithoutOwner')).toBe('crit');
    const two = {
      ...healthy,
      tags: [
        {
          key: 'vip/1',
          states: states([
            [1, 'active'],
            [3, 'active'],
          ]),
        },
      ],
    };
    expect(level(clusterChecks(two), 'SipedgeTagWithTwoOwners')).toBe('crit');
  });

  it('a capability not synced on some node is a warning', () => {
    const caps = [
      {
        name: 'usrloc-contact-repl',
        states: states([
          [2, 'synced'],
          [1, 'sync pending'],
        ]),
      },
    ];
    const check = clusterChecks({ ...healthy, caps }).find(
      (c) => c.id === 'SipedgeCapabilityNotSynced',
    );
    expect(check?.level).toBe('warn');
    expect(check?.text).toContain('usrloc-contact-repl on node 1 (sync pending)');
  });

  it('an offline relay is a warning', () => {
    const members = [
      { name: 'r1', state: 'online' },
      { name: 'r2', state: 'offline' },
    ];
    const [check] = relayChecks([{ name: 'media', members }]);
    expect(check?.level).toBe('warn');
    expect(check?.text).toContain('r2 in media');
    expect(relayChecks([{ name: 'media', members: [members[0]!] }])[0]?.level).toBe('ok');
  });

  it('watches incremental failure counters and warns when one rises', () => {
    expect(
      failureCounters({
        'usrloc_repl:send_failures': 'incremental',
        'usrloc_repl:drop_forged': 'incremental',
        'usrloc:location-contacts': 'non-incremental',
        'sip:timeouts_now': 'non-incremental',
        'core:rcv_requests': 'incremental',
      }),
    ).toEqual(['usrloc_repl:send_failures', 'usrloc_repl:drop_forged']);
    const first = counterCheck(undefined, { 'a:drops': 4 }, 1, 0);
    expect(first.level).toBe('ok');
    expect(counterCheck({ 'a:drops': 4 }, { 'a:drops': 4 }, 1, 5).level).toBe('ok');
    const rising = counterCheck({ 'a:drops': 4 }, { 'a:drops': 9 }, 1, 5);
    expect(rising.level).toBe('warn');
    expect(rising.text).toContain('a:drops +5 in the last 5s');
  });

  it('lists the worst first', () => {
    const c = (id: string, l: HealthCheck['level']): HealthCheck => ({
      id,
      level: l,
      title: id,
      text: '',
    });
    expect(
      worstFirst([c('a', 'ok'), c('b', 'warn'), c('c', 'crit'), c('d', 'ok')]).map((x) => x.id),
    ).toEqual(['c', 'b', 'a', 'd']);
  });
});
