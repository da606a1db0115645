import type { CapabilityOptions, CapStatusEvent } from '../sync/capability.js';
import type { CapabilityHandlers, ModulePayload } from './messages.js';
import type { SendResult } from './router.js';

/**
 * What a module that replicates its data needs from the cluster: register a capability (its
 * packets and sync), learn its sync status, and send to one node or to all. The `Clusterer`
 * implements it; a module (usrloc, a call table) depends on this interface only, so it can be
 * driven by another implementation (a test double, a simulator node).
 */
export interface ReplicationChannel {
  readonly myNodeId: number;
  registerCapability(name: string, handlers: CapabilityHandlers, options?: CapabilityOptions): void;
  /** The capability holds the whole dataset. */
  isSynced(name: string): boolean;
  /** Ask again for a full sync, from `from` if it qualifies as a donor. */
  requestSync(name: string, from?: number): boolean;
  /** Is any node of the cluster reachable now? */
  hasReachable(clusterId: number): boolean;
  /** Is the node a sipedge node (it advertises the `sipedge-sync` mark), not OpenSIPS? */
  speaksSipedge(clusterId: number, nodeId: number): boolean;
  /**
   * Is the node known to be an OpenSIPS node: its capabilities arrived (a CAP_UPDATE) without
   * the `sipedge-sync` mark? False while they are unknown.
   */
  isOpenSipsNode(clusterId: number, nodeId: number): boolean;
  /** May a write accepted now be acknowledged (synced, or another node reachable)? */
  mayAcknowledge(name: string): boolean;
  sendTo(clusterId: number, dst: number, p: ModulePayload): SendResult;
  /**
   * Send to every enabled node: one payload for all, or one per destination (`p(dst)`), so a
   * module can write each node's own layout (sipedge or OpenSIPS); `undefined` skips the node.
   */
  sendAll(
    clusterId: number,
    p: ModulePayload | ((dst: number) => ModulePayload | undefined),
  ): SendResult;
  /** Sync status changes of every capability; returns the unsubscribe function. */
  onCapStatus(fn: (e: CapStatusEvent) => void): () => void;
}
