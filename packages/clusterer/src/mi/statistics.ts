import type { Series, StatisticsRegistry } from '@sipedge/mi';
import { REFUSAL_REASONS, type RefusalReason } from '../auth/refusals.js';
import type { Clusterer } from '../clusterer.js';
import { LinkState, type RemoteNode } from '../nodes/remote-node.js';
import { MAX_SHTAGS } from '../tags/sharing-tags.js';

/** What the statistics read from the BIN transport (`TcpBinTransport`). */
export interface TransportStatistics {
  readonly counters: ReadonlyMap<string, number>;
  readonly inboundConnections: { open: number; pending: number };
}

/** Transport counters shown as statistics `clusterer:bin_<name>`, with their descriptions. */
const TRANSPORT_STATS: readonly [stat: string, counter: string, help: string][] = [
  ['connections_accepted', 'accepted', 'BIN connections accepted'],
  [
    'first_packet_timeouts',
    'first_packet_timeout',
    'BIN connections closed for sending no admitted first packet in time',
  ],
  [
    'pending_evicted',
    'evicted_pending',
    'Not yet admitted BIN connections closed to make room for new ones',
  ],
  [
    'node_connections_evicted',
    'evicted_node_connection',
    'BIN connections of a node closed because the node opened a newer one',
  ],
  ['rejected_source', 'rejected_source', 'BIN connections refused: from an address of no node'],
  [
    'rejected_pending_full',
    'rejected_pending_full',
    'BIN connections refused: too many not yet admitted from that address',
  ],
  ['tls_inbound_refused', 'tls_inbound_refused', 'Inbound BIN TLS handshakes that failed'],
  ['tls_outbound_refused', 'tls_outbound_refused', 'Outbound BIN TLS handshakes that failed'],
  [
    'tls_name_mismatches',
    'tls_name_mismatch',
    'Outbound BIN TLS connections whose certificate did not name the node',
  ],
];

/** Why a refusal is counted, for `clusterer:bin_refused_<reason>`. */
const REFUSAL_HELP: Readonly<Record<RefusalReason, string>> = {
  wrong_address: 'a node id sent from an address that node does not have',
  hop_changed: 'a connection admitted for one node carried a packet of another',
  certificate_name: "the peer's certificate does not name the node it claims to be",
  unauthenticated: 'a packet before a valid hello, with auth_secret set',
  bad_hello: 'a hello that does not decode',
  bad_secret: 'a hello signed with no secret of ours',
  stale_hello: 'a hello whose time is too far from ours',
  replayed_hello: 'a hello seen before',
  relayed_control: 'a control command relayed for a direct neighbour',
  mi_not_allowed: 'an MI command that remote_mi does not allow',
  mi_node_not_allowed: 'an MI command from a node that remote_mi does not list',
};

/** Clusterer counters shown as `clusterer:<name>`: the counter prefix summed, and what it counts. */
const COUNTER_STATS: readonly [stat: string, prefix: string, help: string][] = [
  ['bin_packets_sent', 'sent_packets', 'BIN packets sent to neighbours'],
  ['bin_packets_received', 'recv_packets', 'BIN packets received'],
  [
    'bin_packets_dropped',
    'drop_',
    'BIN packets dropped (undecodable, unknown or disabled sender…)',
  ],
  ['node_up_events', 'node_up_events', 'Times a node became reachable'],
  ['node_down_events', 'node_down_events', 'Times a node became unreachable'],
  ['syncs_completed', 'syncs_completed', 'Full data syncs this node received to the end'],
  ['sync_failures', 'sync_failures', 'Full data syncs this node asked for that failed'],
  ['syncs_served', 'syncs_served', 'Full data syncs this node sent to another node as donor'],
  [
    'donorless_syncs',
    'donorless_syncs',
    'Times this node declared a capability synced with no donor (cold start agreement, seed)',
  ],
  [
    'sync_bad_data_version',
    'sync_bad_data_version',
    'Syncs refused because their data version is one this node cannot read',
  ],
  ['shtag_active_recv', 'shtag_active_recv', 'Sharing tag "active" announcements received'],
  ['bin_refused', 'refused_', 'BIN peers refused, every reason'],
];

/**
 * The clusterer's statistics: group `clusterer` (nodes by cluster and link state, each node's
 * link and reachability, capabilities' sync, packets, events, syncs, refusals by reason, the
 * transport's connection budgets) and group `shtag` (which sharing tags this node holds).
 */
export function registerStatistics(
  stats: StatisticsRegistry,
  clusterer: Clusterer,
  transport: TransportStatistics | undefined,
): void {
  const perCluster = (pred: (n: RemoteNode) => boolean) => (): Series[] =>
    [...clusterer.clusters.values()].map((cl) => {
      let n = 0;
      for (const node of cl.nodes.values()) if (pred(node)) n++;
      return [[String(cl.id)], n];
    });
  const perNode = (value: (n: RemoteNode) => number) => (): Series[] =>
    [...clusterer.clusters.values()].flatMap((cl) =>
      [...cl.nodes.values()].map((n): Series => [[String(cl.id), String(n.id)], value(n)]),
    );
  const byCluster = { labels: ['cluster'], maxSeries: 64 } as const;
  const byNode = { labels: ['cluster', 'node'], maxSeries: 1024 } as const;
  stats.labelledGauge('clusterer', 'clusterer_nodes', {
    ...byCluster,
    help: 'Other nodes of the cluster known to this node',
    series: perCluster(() => true),
  });
  stats.labelledGauge('clusterer', 'clusterer_nodes_up', {
    ...byCluster,
    help: 'Other nodes of the cluster with a direct link up',
    series: perCluster((n) => n.link === LinkState.UP),
  });
  stats.labelledGauge('clusterer', 'clusterer_nodes_down', {
    ...byCluster,
    help: 'Other nodes of the cluster with a direct link down',
    series: perCluster((n) => n.link === LinkState.DOWN),
  });
  stats.labelledGauge('clusterer', 'node_link_up', {
    ...byNode,
    help: '1 while the direct link to the node is up (pings answered), else 0',
    series: perNode((n) => (n.link === LinkState.UP ? 1 : 0)),
  });
  stats.labelledGauge('clusterer', 'node_reachable', {
    ...byNode,
    help: '1 while the node is reachable, directly or through another node, else 0',
    series: perNode((n) => (n.nextHop === undefined ? 0 : 1)),
  });
  stats.labelledGauge('clusterer', 'capability_synced', {
    labels: ['cluster', 'capability'],
    maxSeries: 256,
    help: '1 once the capability holds the whole data set (synced, or agreed without a donor)',
    series: () =>
      clusterer.capabilityNames().flatMap((name): Series[] => {
        const st = clusterer.capabilityStatus(name);
        if (st === undefined) return [];
        return [[[String(st.clusterId), name], clusterer.isSynced(name) ? 1 : 0]];
      }),
  });
  stats.labelledGauge('shtag', 'active', {
    labels: ['cluster', 'tag'],
    maxSeries: MAX_SHTAGS,
    help: '1 while this node is the active owner of the sharing tag, 0 while backup',
    series: () =>
      clusterer.shtags
        .list()
        .map((t): Series => [[String(t.clusterId), t.name], t.state === 'active' ? 1 : 0]),
  });

  const sum = (prefix: string): number => {
    let n = 0;
    for (const [k, v] of clusterer.counters) if (k.startsWith(prefix)) n += v;
    return n;
  };
  for (const [stat, prefix, help] of COUNTER_STATS) {
    stats.counter('clusterer', stat, { help, read: () => sum(prefix) });
  }
  for (const reason of REFUSAL_REASONS) {
    stats.counter('clusterer', `bin_refused_${reason}`, {
      help: `BIN peers refused: ${REFUSAL_HELP[reason]}`,
      read: () => sum(`refused_${reason}`),
    });
  }
  if (transport !== undefined) {
    for (const [stat, counter, help] of TRANSPORT_STATS) {
      stats.counter('clusterer', `bin_${stat}`, {
        help,
        read: () => transport.counters.get(counter) ?? 0,
      });
    }
    stats.gauge('clusterer', 'bin_connections_open', {
      help: 'Inbound BIN connections open',
      read: () => transport.inboundConnections.open,
    });
    stats.gauge('clusterer', 'bin_connections_pending', {
      help: 'Inbound BIN connections open and not yet admitted',
      read: () => transport.inboundConnections.pending,
    });
  }
}
