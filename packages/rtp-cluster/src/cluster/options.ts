/**
 * What a cluster is given and what it reports: its options, events, counters and logger, and
 * `ClusterView`, the narrow part of a cluster that its new-session rule, broadcast lookups and
 * aggregate answers read.
 */
import type { Clock, Logger } from '@sipedge/core';
import type { CallTable } from '../calls/call-table.js';
import type { ClusterConfig } from '../config/schema.js';
import type { Member, MemberLinkFactory, MemberOptions } from '../member.js';
import type { SelectionStrategy } from './select.js';

export type RtpClusterEvent =
  | { readonly type: 'member_up'; readonly cluster: string; readonly member: string }
  | { readonly type: 'member_down'; readonly cluster: string; readonly member: string }
  | { readonly type: 'member_added'; readonly cluster: string; readonly member: string }
  | { readonly type: 'member_draining'; readonly cluster: string; readonly member: string }
  | { readonly type: 'member_removed'; readonly cluster: string; readonly member: string };

export interface RtpClusterOptions {
  /** Opens the rtpp client of a member (an RtppClient in production, a script in tests). */
  readonly connect: MemberLinkFactory;
  readonly timers?: Clock;
  readonly random?: () => number;
  readonly selection?: SelectionStrategy;
  /**
   * Makes the call-id table of a cluster (to persist or replicate it, or to give it a wall
   * clock). By default each cluster gets a table on the balancer's timers.
   */
  readonly callTableFor?: (cluster: string) => CallTable;
  readonly member?: Partial<MemberOptions>;
  readonly logger?: Logger;
  readonly onEvent?: (event: RtpClusterEvent) => void;
  /**
   * Whether the owner runs a DisconnectRelay on each cluster's `disconnect_notify` address
   * (docs/protocols/rtpproxy.md §5.5); without it, notify arguments are not passed to network
   * members.
   */
  readonly disconnectRelay?: boolean;
  /**
   * Calls one command source (the address on the control socket) may hold; a new session over
   * it answers E72. Default: 90% of the members' summed capacity; 0: no cap (sources.ts).
   */
  readonly maxSessionsPerSource?: number | undefined;
}

export interface ClusterCounters {
  commands: number;
  newSessions: number;
  broadcasts: number;
  noMember: number;
  backendTimeouts: number;
  failovers: number;
  /** Member replies E7–E10 answered as E997. */
  memberFailures: number;
  /** New sessions refused because their source held its cap (answered E72). */
  sourceLimited: number;
}

/** What the parts of a cluster read of it (RtpCluster is one). */
export interface ClusterView {
  readonly name: string;
  /** The current configuration (a reload replaces it). */
  readonly config: ClusterConfig;
  /** Members in configuration order. */
  readonly members: readonly Member[];
  member(name: string): Member | undefined;
  readonly callTable: CallTable;
  readonly counters: ClusterCounters;
}
