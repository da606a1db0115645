/**
 * Management of a balancer through @sipedge/mi: the admin protocol's operations as typed
 * commands with JSON results, statistics, and events. The app registers them; nothing here
 * opens a socket.
 */
import {
  defineCommand,
  type EventBus,
  type MiCommand,
  MiCommandError,
  type Series,
  type StatisticsRegistry,
} from '@sipedge/mi';
import type { RtppServer } from '@sipedge/rtpp';
import { z } from 'zod';
import type { RtpBalancer } from './balancer.js';
import type { RtpCluster } from './cluster/cluster.js';
import type { ClusterCounters, RtpClusterEvent } from './cluster/options.js';
import { memberConfigSchema } from './config/schema.js';
import type { Member, MemberCounters } from './member.js';

export interface RtpClusterMiOptions {
  /** Re-reads the configuration for `rtp_cluster_reload`; the command is absent without it. */
  readonly reload?: () => Promise<{ clusters: number; members: number }>;
  /**
   * The control sockets a cluster really listens on (`udp:127.0.0.1:22230`), when its
   * configured address is not one (a balancer embedded in another program): `rtp_cluster_list`
   * then shows `control_sockets` instead of `protocol` and `address`.
   */
  readonly controlSockets?: (cluster: string) => readonly string[];
}

/** Event names raised on the MI bus (OpenSIPS `E_` style). */
export const RTP_CLUSTER_EVENTS = {
  member_up: 'E_RTP_CLUSTER_MEMBER_UP',
  member_down: 'E_RTP_CLUSTER_MEMBER_DOWN',
  member_added: 'E_RTP_CLUSTER_MEMBER_ADDED',
  member_draining: 'E_RTP_CLUSTER_MEMBER_DRAINING',
  member_removed: 'E_RTP_CLUSTER_DRAIN_FINISHED',
} as const satisfies Record<RtpClusterEvent['type'], string>;

/** Raises a balancer event on the MI event bus. */
export function raiseRtpClusterEvent(bus: EventBus, event: RtpClusterEvent): void {
  bus.raise(RTP_CLUSTER_EVENTS[event.type], { cluster: event.cluster, member: event.member });
}

export function memberInfo(m: Member): Record<string, unknown> {
  const c = m.config;
  return {
    name: m.name,
    protocol: c.protocol,
    address: c.address,
    ...(c.wan_address === undefined ? {} : { wan_address: c.wan_address }),
    ...(c.lan_address === undefined ? {} : { lan_address: c.lan_address }),
    ...(c.cmd_out_address === undefined ? {} : { cmd_out_address: c.cmd_out_address }),
    weight: c.weight,
    capacity: c.capacity,
    state: m.state,
    status: m.status,
    active_sessions: m.reportedSessions ?? null,
    bound_calls: m.liveCalls(),
    utilization: Number((m.activeSessions / c.capacity).toFixed(6)),
    rtt_ms: Number(m.rttMs.toFixed(3)),
    capabilities: [...m.capabilities].filter(([, yes]) => yes).map(([date]) => date),
    counters: { ...m.counters },
  };
}

export function clusterInfo(
  c: RtpCluster,
  controlSockets?: RtpClusterMiOptions['controlSockets'],
): Record<string, unknown> {
  return {
    name: c.name,
    ...(controlSockets === undefined
      ? { protocol: c.config.protocol, address: c.config.address }
      : { control_sockets: [...controlSockets(c.name)] }),
    capacity_limit: c.config.capacity_limit,
    calls: c.callTable.size,
    counters: { ...c.counters },
    members: c.members.map(memberInfo),
  };
}

function clusterOrThrow(balancer: RtpBalancer, name: string): RtpCluster {
  const c = balancer.cluster(name);
  if (c === undefined) throw new MiCommandError(404, `${name}: cluster not found`);
  return c;
}

const memberRef = z.object({ cluster: z.string().min(1), member: z.string().min(1) });

/** The MI commands of a balancer. */
export function miCommands(balancer: RtpBalancer, options: RtpClusterMiOptions = {}): MiCommand[] {
  const memberAction = (
    name: string,
    description: string,
    act: (c: RtpCluster, member: string) => void,
  ) =>
    defineCommand({
      name,
      description,
      module: 'rtp_cluster',
      params: memberRef,
      handler: ({ cluster, member }) => {
        const c = clusterOrThrow(balancer, cluster);
        if (c.member(member) === undefined) {
          throw new MiCommandError(404, `${member}: RTPproxy not found`);
        }
        act(c, member);
        return 'OK';
      },
    });

  const commands: MiCommand[] = [
    defineCommand({
      name: 'rtp_cluster_list',
      readOnly: true,
      description: 'clusters and their members, with state, load and counters',
      module: 'rtp_cluster',
      params: z.object({ cluster: z.string().optional() }),
      handler: ({ cluster }) => ({
        Clusters: (cluster === undefined
          ? balancer.clusters
          : [clusterOrThrow(balancer, cluster)]
        ).map((c) => clusterInfo(c, options.controlSockets)),
      }),
    }),
    defineCommand({
      name: 'rtp_cluster_add',
      description: 'add a member to a cluster (status defaults to ACTIVE)',
      module: 'rtp_cluster',
      namedOnly: true,
      params: z.object({
        cluster: z.string().min(1),
        name: z.string().min(1),
        protocol: z.string(),
        address: z.string(),
        weight: z.coerce.number(),
        capacity: z.coerce.number(),
        status: z.string().optional(),
        wan_address: z.string().optional(),
        lan_address: z.string().optional(),
        cmd_out_address: z.string().optional(),
      }),
      handler: ({ cluster, ...fields }) => {
        const c = clusterOrThrow(balancer, cluster);
        if (c.member(fields.name) !== undefined) {
          throw new MiCommandError(400, `${fields.name}: RTPproxy already exists`);
        }
        const parsed = memberConfigSchema.safeParse({ status: 'ACTIVE', ...fields });
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new MiCommandError(400, `${issue.path.join('.')}: ${issue.message}`);
        }
        c.addMember(parsed.data);
        return 'OK';
      },
    }),
    memberAction(
      'rtp_cluster_delete',
      'drain a member and remove it when it holds no call',
      (c, m) => c.drainMember(m),
    ),
    memberAction('rtp_cluster_pause', 'stop placing new sessions on a member', (c, m) =>
      c.pauseMember(m),
    ),
    memberAction('rtp_cluster_resume', 'place new sessions on a member again', (c, m) =>
      c.resumeMember(m),
    ),
  ];
  const reload = options.reload;
  if (reload !== undefined) {
    commands.push(
      defineCommand({
        name: 'rtp_cluster_reload',
        description: 're-read the configuration file: add, reconfigure and drain members',
        module: 'rtp_cluster',
        handler: async () => {
          try {
            return await reload();
          } catch (err) {
            throw new MiCommandError(400, (err as Error).message);
          }
        },
      }),
    );
  }
  return commands;
}

/** Per-cluster counters (`ClusterCounters`) as statistics, with what each counts. */
const CLUSTER_COUNTERS: readonly [stat: string, counter: keyof ClusterCounters, help: string][] = [
  ['commands', 'commands', 'rtpproxy commands the balancer received'],
  ['new_sessions', 'newSessions', 'New sessions placed on a relay'],
  ['broadcasts', 'broadcasts', 'Commands for an unknown call asked of every online relay'],
  ['backend_timeouts', 'backendTimeouts', 'Commands a relay did not answer in time'],
  ['failovers', 'failovers', 'New sessions tried again on another relay after a timeout'],
  ['no_member', 'noMember', 'New sessions refused: no relay online with room'],
  ['member_failures', 'memberFailures', 'Relay errors E7–E10 answered to the client as E997'],
  [
    'source_limited',
    'sourceLimited',
    'New sessions refused: their command source holds max_sessions_per_source',
  ],
];

/** Per-relay counters (`MemberCounters`) as statistics `rtp_cluster:relay_<name>`. */
const RELAY_COUNTERS: readonly [stat: string, counter: keyof MemberCounters, help: string][] = [
  ['relay_commands', 'commands', 'Commands sent to the relay'],
  ['relay_errors', 'errors', 'Error replies from the relay, and commands it could not be sent'],
  ['relay_timeouts', 'timeouts', 'Commands the relay did not answer in time'],
  ['relay_garbage', 'garbage', 'Replies from the relay that did not parse'],
  ['relay_new_sessions', 'sessions', 'New sessions placed on the relay'],
];

/**
 * Balancer statistics (`rtp_cluster:*`), computed when read: by cluster (label `cluster`),
 * and by relay (labels `cluster` and `relay`, the member's name).
 */
export function registerRtpClusterStatistics(
  stats: StatisticsRegistry,
  balancer: RtpBalancer,
): void {
  const byCluster = (pick: (c: RtpCluster) => number) => (): Series[] =>
    balancer.clusters.map((c) => [[c.name], pick(c)]);
  const byRelay = (pick: (m: Member) => number) => (): Series[] =>
    balancer.clusters.flatMap((c) => c.members.map((m): Series => [[c.name, m.name], pick(m)]));
  const cluster = { labels: ['cluster'], maxSeries: 64 } as const;
  const relay = { labels: ['cluster', 'relay'], maxSeries: 1024 } as const;
  for (const [stat, counter, help] of CLUSTER_COUNTERS) {
    stats.labelledCounter('rtp_cluster', stat, {
      ...cluster,
      help,
      series: byCluster((c) => c.counters[counter]),
    });
  }
  stats.labelledGauge('rtp_cluster', 'calls', {
    ...cluster,
    help: 'Calls the balancer holds, each bound to one relay',
    series: byCluster((c) => c.callTable.size),
  });
  stats.labelledGauge('rtp_cluster', 'members_online', {
    ...cluster,
    help: 'Relays answering their heartbeats',
    series: byCluster((c) => c.members.filter((m) => m.online).length),
  });
  stats.labelledGauge('rtp_cluster', 'members_offline', {
    ...cluster,
    help: 'Relays not answering (probing, down or being removed)',
    series: byCluster((c) => c.members.filter((m) => !m.online).length),
  });
  stats.labelledGauge('rtp_cluster', 'relay_up', {
    ...relay,
    help: '1 while the relay answers its heartbeats, else 0',
    series: byRelay((m) => (m.online ? 1 : 0)),
  });
  stats.labelledGauge('rtp_cluster', 'relay_sessions', {
    ...relay,
    help: 'Active sessions on the relay as the balancer weighs them',
    series: byRelay((m) => m.activeSessions),
  });
  stats.labelledGauge('rtp_cluster', 'relay_calls', {
    ...relay,
    help: 'Calls the balancer has bound to the relay',
    series: byRelay((m) => m.liveCalls()),
  });
  stats.labelledGauge('rtp_cluster', 'relay_rtt', {
    ...relay,
    unit: 'seconds',
    summable: false,
    help: 'Smoothed round-trip time of commands to the relay',
    series: byRelay((m) => m.rttMs / 1000),
  });
  for (const [stat, counter, help] of RELAY_COUNTERS) {
    stats.labelledCounter('rtp_cluster', stat, {
      ...relay,
      help,
      series: byRelay((m) => m.counters[counter]),
    });
  }
}

/**
 * Statistics `rtp_cluster:control_*` of the balancer's control sockets (summed over `servers()`,
 * read when asked): commands and connections refused by source, connections closed idle.
 */
export function registerControlSocketStatistics(
  stats: StatisticsRegistry,
  servers: () => Iterable<RtppServer>,
): void {
  const sum = (pick: (s: ReturnType<RtppServer['stats']>) => number) => () => {
    let n = 0;
    for (const s of servers()) n += pick(s.stats());
    return n;
  };
  stats.gauge('rtp_cluster', 'control_connections', {
    help: 'Stream connections open on the control sockets',
    read: sum((s) => s.openConnections),
  });
  const counters: [string, () => number, string][] = [
    [
      'control_refused_sources',
      sum((s) => s.refusedSources),
      'Control datagrams and connections dropped: their source is not allowed',
    ],
    [
      'control_source_limited_connections',
      sum((s) => s.sourceLimitedConnections),
      'Control tcp connections refused: their source held its connection cap',
    ],
    [
      'control_rejected_connections',
      sum((s) => s.rejectedConnections),
      'Control stream connections refused: the connection cap was reached',
    ],
    [
      'control_idle_closed',
      sum((s) => s.idleClosed),
      'Control stream connections closed after their idle timeout',
    ],
  ];
  for (const [name, read, help] of counters) stats.counter('rtp_cluster', name, { help, read });
}
