import type { Clock, Logger } from '@sipedge/core';
import { ClustererConfigError } from './errors.js';
import type { LinkTimers } from './links/links.js';
import { type NodeConfig, parseNodeInfo } from './nodes/node-info.js';
import type { NodeStore } from './nodes/store.js';
import type { BinTransport } from './runtime.js';
import type { SyncOptions } from './sync/host.js';
import type { FailoverOptions } from './tags/sharing-tags.js';

export interface ClustererOptions {
  transport: BinTransport;
  clock?: Clock;
  logger?: Logger;
  /** 0: nodes from my_node_info / neighbor_node_info with discovery; 1 (default): a NodeStore. */
  dbMode?: 0 | 1;
  myNodeId?: number;
  myNodeInfo?: string[];
  neighborNodeInfo?: string[];
  store?: NodeStore;
  /** Seconds between pings on an idle link (default 4). */
  pingInterval?: number;
  /** Milliseconds to wait for a pong (default 1000). */
  pingTimeout?: number;
  /** Seconds between probes of a DOWN link (default 60). */
  nodeTimeout?: number;
  /** Route through intermediate nodes (default true). */
  enableRerouting?: boolean;
  /** Data sync timers and sizes (`seed_fallback_interval`, `sync_timeout`, `sync_packet_size`). */
  sync?: SyncOptions;
  /** `sharing_tag` values: `name/cluster_id=active|backup`. */
  sharingTags?: string[];
  /** Automatic sharing-tag failover (sipedge; off by default in the library). */
  shtagFailover?: FailoverOptions;
  /**
   * Advertise the `sipedge-sync` mark in CAP_UPDATE (default true), by which sipedge nodes
   * know each other. False makes the node look like an OpenSIPS node to its peers (they send
   * it no sipedge-only packet): for simulating mixed clusters.
   */
  sipedgeMark?: boolean;
  /**
   * sipedge: shared-secret authentication of BIN connections (off by default; OpenSIPS nodes
   * cannot join a cluster that uses it). The first secret signs, all are accepted.
   */
  authSecret?: string | readonly string[];
  /** How far a hello's timestamp may be from this node's clock, in ms (default 60 s). */
  authWindowMs?: number;
  /** `bins:`: the certificate name per node id, when it is not the host of the node's URL. */
  tlsNames?: ReadonlyMap<number, string>;
}

function gcd(a: number, b: number): number {
  let x = Math.round(a);
  let y = Math.round(b);
  while (y) [x, y] = [y, x % y];
  return x;
}

/** The link timers in milliseconds, and the heartbeat tick that serves all three. */
export function linkTimers(options: ClustererOptions): LinkTimers & { tickMs: number } {
  const pingIntervalMs = Math.round((options.pingInterval ?? 4) * 1000);
  const pingTimeoutMs = Math.round(options.pingTimeout ?? 1000);
  const nodeTimeoutMs = Math.round((options.nodeTimeout ?? 60) * 1000);
  if (pingIntervalMs <= 0 || pingTimeoutMs <= 0 || nodeTimeoutMs <= 0) {
    throw new ClustererConfigError('ping_interval, ping_timeout and node_timeout must be positive');
  }
  const tickMs = Math.max(1, gcd(gcd(pingIntervalMs, pingTimeoutMs), nodeTimeoutMs));
  return { pingIntervalMs, pingTimeoutMs, nodeTimeoutMs, tickMs };
}

/** My node id and the node table: db_mode=0 node info strings, or the store's rows. */
export function nodeConfigs(options: ClustererOptions, dbMode: 0 | 1): [number, NodeConfig[]] {
  if (dbMode === 0) {
    const mine = (options.myNodeInfo ?? []).map((s) => parseNodeInfo(s, 'my_node_info'));
    if (mine.length === 0) throw new ClustererConfigError('db_mode=0 needs my_node_info');
    const id = options.myNodeId ?? mine.find((m) => m.nodeId > 0)?.nodeId;
    if (id === undefined || id <= 0)
      throw new ClustererConfigError('my_node_id (or node_id in my_node_info) is required');
    for (const m of mine) m.nodeId = id;
    const neighbours = (options.neighborNodeInfo ?? []).map((s) =>
      parseNodeInfo(s, 'neighbor_node_info'),
    );
    return [id, [...mine, ...neighbours]];
  }
  if (options.store === undefined) throw new ClustererConfigError('db_mode=1 needs a node store');
  if (options.myNodeId === undefined || options.myNodeId <= 0)
    throw new ClustererConfigError('my_node_id is required');
  return [options.myNodeId, options.store.load(options.myNodeId)];
}
