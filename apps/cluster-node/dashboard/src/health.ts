/**
 * The Health view's checks: the alert rules shipped for Prometheus (packaging/prometheus/
 * alerts.yml) read from what this node's MI shows now, plus counters of failures that went up
 * since the last look. Pure functions: the view feeds them what it loaded.
 */

/** What the checks read of the Cluster view's data (`ClusterView` has this shape). */
export interface ClusterFacts {
  readonly self: number;
  readonly nodes: readonly {
    readonly id: number;
    readonly label: string;
    readonly state: string;
  }[];
  readonly tags: readonly { readonly key: string; readonly states: ReadonlyMap<number, string> }[];
  readonly caps: readonly { readonly name: string; readonly states: ReadonlyMap<number, string> }[];
}

/** What the checks read of `rtp_cluster_list`. */
export interface RelayFacts {
  readonly name: string;
  readonly members: readonly { readonly name: string; readonly state: string }[];
}

export type Level = 'ok' | 'warn' | 'crit';

export interface HealthCheck {
  /** The alert it mirrors (`SipedgeNodeUnreachable` …), or a name of its own. */
  readonly id: string;
  readonly level: Level;
  readonly title: string;
  readonly text: string;
}

const ORDER: Record<Level, number> = { ok: 0, warn: 1, crit: 2 };

/** The checks, critical first, then warnings, then the rest in their order. */
export function worstFirst(checks: readonly HealthCheck[]): HealthCheck[] {
  return checks.slice().sort((a, b) => ORDER[b.level] - ORDER[a.level]);
}

export function worst(checks: readonly HealthCheck[]): Level {
  return checks.reduce<Level>((w, c) => (ORDER[c.level] > ORDER[w] ? c.level : w), 'ok');
}

/** SipedgeNodeUnreachable, SipedgeTagWithoutOwner / WithTwoOwners, SipedgeCapabilityNotSynced. */
export function clusterChecks(view: ClusterFacts): HealthCheck[] {
  const down = view.nodes.filter((n) => n.state === 'down');
  const checks: HealthCheck[] = [
    down.length > 0
      ? {
          id: 'SipedgeNodeUnreachable',
          level: 'crit',
          title: `${down.length} of ${view.nodes.length} nodes unreachable`,
          text: `${down.map((n) => `node ${n.id} (${n.label})`).join(', ')}: no link and no hop from node ${view.self}. Down or cut off on the BIN network; its peers take over its tags.`,
        }
      : {
          id: 'SipedgeNodeUnreachable',
          level: 'ok',
          title: `All ${view.nodes.length} nodes reachable`,
          text: `From node ${view.self}, directly or through another node.`,
        },
  ];
  const orphan = view.tags.filter((t) => ![...t.states.values()].includes('active'));
  const twice = view.tags.filter(
    (t) => [...t.states.values()].filter((s) => s === 'active').length > 1,
  );
  checks.push(
    orphan.length > 0
      ? {
          id: 'SipedgeTagWithoutOwner',
          level: 'crit',
          title: `Sharing tag without an active node: ${orphan.map((t) => t.key).join(', ')}`,
          text: 'Every node that answered holds it as backup: nobody holds its service address. Make one node active (clusterer_shtag_set_active).',
        }
      : twice.length > 0
        ? {
            id: 'SipedgeTagWithTwoOwners',
            level: 'crit',
            title: `Sharing tag active on two nodes: ${twice.map((t) => t.key).join(', ')}`,
            text: 'A split cluster: each holder binds the service address. Check the BIN links.',
          }
        : {
            id: 'SipedgeTagWithoutOwner',
            level: 'ok',
            title:
              view.tags.length === 0
                ? 'No sharing tags'
                : `Each of ${view.tags.length} sharing tags has one active node`,
            text: 'As the reachable nodes report them.',
          },
  );
  const unsynced = view.caps.flatMap((c) =>
    [...c.states]
      .filter(([, s]) => s !== 'synced')
      .map(([id, s]) => `${c.name} on node ${id} (${s})`),
  );
  checks.push(
    unsynced.length > 0
      ? {
          id: 'SipedgeCapabilityNotSynced',
          level: 'warn',
          title: 'Capability not synced',
          text: `${unsynced.join(', ')}: not the whole data set yet (no donor answered, or syncs fail). Usual for a moment after a start; Prometheus alerts after five minutes of it.`,
        }
      : {
          id: 'SipedgeCapabilityNotSynced',
          level: 'ok',
          title: 'Capabilities synced',
          text: `${view.caps.map((c) => c.name).join(', ') || 'none'} on every node that answered.`,
        },
  );
  return checks;
}

/** SipedgeRelayOffline: relays that stopped answering heartbeats. */
export function relayChecks(clusters: readonly RelayFacts[]): HealthCheck[] {
  const all = clusters.flatMap((c) => c.members.map((m) => ({ c: c.name, m })));
  const off = all.filter(({ m }) => m.state === 'offline');
  if (off.length > 0)
    return [
      {
        id: 'SipedgeRelayOffline',
        level: 'warn',
        title: `${off.length} of ${all.length} relays offline`,
        text: `${off.map(({ c, m }) => `${m.name} in ${c}`).join(', ')}: no heartbeat answer; new calls go to the other relays while there is room.`,
      },
    ];
  return [
    {
      id: 'SipedgeRelayOffline',
      level: 'ok',
      title:
        all.length === 0
          ? 'No RTP relays on this node'
          : all.length === 1
            ? 'The relay is online'
            : `All ${all.length} relays online`,
      text: all.length === 0 ? 'Nothing to watch.' : 'As this node balances them.',
    },
  ];
}

/** Failure counters: errors, drops, refusals, overflows, timeouts. */
const FAILURE = /error|fail|drop|refus|reject|overflow|limit|lost|timeout|slow|discard|forged/i;

/** Counters whose names say failure, among `kinds` (from `list_statistics`). */
export function failureCounters(kinds: Readonly<Record<string, string>>): string[] {
  return Object.entries(kinds)
    .filter(([name, kind]) => kind === 'incremental' && FAILURE.test(name))
    .map(([name]) => name);
}

/** Failure counters that went up between two readings. */
export function counterCheck(
  before: Readonly<Record<string, number>> | undefined,
  now: Readonly<Record<string, number>>,
  watched: number,
  seconds: number,
): HealthCheck {
  const rising = Object.entries(now)
    .map(([name, v]) => [name, v - (before?.[name] ?? v)] as const)
    .filter(([, d]) => d > 0);
  if (rising.length === 0)
    return {
      id: 'counters',
      level: 'ok',
      title: 'No failure counter rising',
      text: `${watched} error, drop and limit counters watched${before === undefined ? '' : ` over ${seconds}s`}.`,
    };
  return {
    id: 'counters',
    level: 'warn',
    title: `${rising.length} failure counters rising`,
    text: `${rising.map(([n, d]) => `${n} +${d}`).join(', ')} in the last ${seconds}s.`,
  };
}
