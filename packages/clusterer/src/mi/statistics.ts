import type { StatisticsRegistry } from '@sipedge/mi';
import { REFUSAL_REASONS } from '../auth/refusals.js';
import type { Clusterer } from '../clusterer.js';
import { LinkState } from '../nodes/remote-node.js';

/** What the statistics read from the BIN transport (`TcpBinTransport`). */
export interface TransportStatistics {
  readonly counters: ReadonlyMap<string, number>;
  readonly inboundConnections: { open: number; pending: number };
}

/** Transport counters shown as statistics `clusterer:bin_<name>`. */
const TRANSPORT_STATS: readonly [stat: string, counter: string][] = [
  ['connections_accepted', 'accepted'],
  ['first_packet_timeouts', 'first_packet_timeout'],
  ['pending_evicted', 'evicted_pending'],
  ['node_connections_evicted', 'evicted_node_connection'],
  ['rejected_source', 'rejected_source'],
  ['rejected_pending_full', 'rejected_pending_full'],
  ['tls_inbound_refused', 'tls_inbound_refused'],
  ['tls_outbound_refused', 'tls_outbound_refused'],
  ['tls_name_mismatches', 'tls_name_mismatch'],
];

/**
 * The clusterer's statistics (group `clusterer`): nodes by link state, packets, events, syncs,
 * refusals by reason (`bin_refused_<reason>`) and the transport's connection budgets.
 */
export function registerStatistics(
  stats: StatisticsRegistry,
  clusterer: Clusterer,
  transport: TransportStatistics | undefined,
): void {
  const count = (pred: (s: LinkState) => boolean): number => {
    let n = 0;
    for (const cl of clusterer.clusters.values())
      for (const node of cl.nodes.values()) if (pred(node.link)) n++;
    return n;
  };
  stats.gauge('clusterer', 'clusterer_nodes', () => count(() => true));
  stats.gauge('clusterer', 'clusterer_nodes_up', () => count((s) => s === LinkState.UP));
  stats.gauge('clusterer', 'clusterer_nodes_down', () => count((s) => s === LinkState.DOWN));
  const sum = (prefix: string): number => {
    let n = 0;
    for (const [k, v] of clusterer.counters) if (k.startsWith(prefix)) n += v;
    return n;
  };
  stats.gauge('clusterer', 'bin_packets_sent', () => sum('sent_packets'));
  stats.gauge('clusterer', 'bin_packets_received', () => sum('recv_packets'));
  stats.gauge('clusterer', 'bin_packets_dropped', () => sum('drop_'));
  stats.gauge('clusterer', 'node_up_events', () => sum('node_up_events'));
  stats.gauge('clusterer', 'node_down_events', () => sum('node_down_events'));
  stats.gauge('clusterer', 'syncs_completed', () => sum('syncs_completed'));
  stats.gauge('clusterer', 'sync_failures', () => sum('sync_failures'));
  stats.gauge('clusterer', 'syncs_served', () => sum('syncs_served'));
  stats.gauge('clusterer', 'shtag_active_recv', () => sum('shtag_active_recv'));
  stats.gauge('clusterer', 'bin_refused', () => sum('refused_'));
  for (const reason of REFUSAL_REASONS)
    stats.gauge('clusterer', `bin_refused_${reason}`, () => sum(`refused_${reason}`));
  if (transport !== undefined) {
    for (const [stat, counter] of TRANSPORT_STATS)
      stats.gauge('clusterer', `bin_${stat}`, () => transport.counters.get(counter) ?? 0);
    stats.gauge('clusterer', 'bin_connections_open', () => transport.inboundConnections.open);
    stats.gauge('clusterer', 'bin_connections_pending', () => transport.inboundConnections.pending);
  }
}
