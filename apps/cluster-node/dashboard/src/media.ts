/** What `rtp_cluster_list` answers, and what the Media and Health views read from it. */
import { type MiCall, MiCallError } from './mi.js';

export interface Relay {
  name: string;
  protocol: string;
  address: string;
  weight: number;
  capacity: number;
  /** `probing`, `online`, `offline`: whether it answers heartbeats. */
  state: string;
  /** `ACTIVE`, `SUSPENDED` (paused), `DRAINING`. */
  status: string;
  active_sessions: number | null;
  bound_calls: number;
  utilization: number;
  rtt_ms: number;
}
export interface RelayCluster {
  name: string;
  calls: number;
  capacity_limit: number;
  members: Relay[];
}

/** The node's rtp clusters; none when it balances no relays (the command is not there). */
export async function loadRelays(call: MiCall): Promise<RelayCluster[]> {
  try {
    return (await call<{ Clusters: RelayCluster[] }>('rtp_cluster_list')).Clusters;
  } catch (err) {
    // JSON-RPC "method not found": this node has no `rtp` section
    if (err instanceof MiCallError && err.code === -32601) return [];
    throw err;
  }
}
