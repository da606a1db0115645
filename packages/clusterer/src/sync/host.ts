import type { RoutedPacket } from '../bin/packet.js';
import type { CapStatusEvent } from './capability.js';
import type { DonorlessSyncEvent } from './donorless.js';

/** A remote node that may take part in a sync, as the clusterer sees it now. */
export interface SyncPeer {
  id: number;
  sipAddr: string;
  priority: number;
  /** Reached over a direct link (not through another node). */
  direct: boolean;
  /** Advertises the capability synced. */
  ok: boolean;
  /** Its state for the capability was learnt since it (last) came up. */
  known: boolean;
  /** It advertises `sipedge-sync`: sipedge-only packets may go to it. */
  sipedge: boolean;
}

/** What the sync engine needs from the clusterer that owns it. */
export interface SyncHost {
  readonly myNodeId: number;
  now(): number;
  count(name: string, n?: number): void;
  isSeed(clusterId: number): boolean;
  /** Do I reach a strict majority of the cluster (or half with the seed on my side)? */
  holdsMajority(clusterId: number): boolean;
  mySipAddr(clusterId: number): string;
  /** Reachable, enabled remote nodes: id, sip_addr, priority, direct link, capability OK. */
  candidates(clusterId: number, cap: string): SyncPeer[];
  reachable(clusterId: number, nodeId: number): boolean;
  /** Does the node advertise `sipedge-sync` (a sipedge node, not OpenSIPS)? */
  speaksSipedge(clusterId: number, nodeId: number): boolean;
  sendRouted(clusterId: number, dst: number, p: RoutedPacket): number;
  /**
   * Send a sync-stream packet toward dst behind the link's control traffic (pings, pongs,
   * replication go first). Without it, `sendRouted` is used.
   */
  sendBulk?(clusterId: number, dst: number, p: RoutedPacket): number;
  /**
   * May another bulk packet toward dst be queued now? When the host has this, it must call
   * `SyncEngine.pump()` once room returns (the link drained); without it the engine sends a
   * bounded burst per timer turn.
   */
  bulkRoom?(clusterId: number, dst: number): boolean;
  /** Tell my neighbours my capability states (CAP_UPDATE with my entry). */
  advertise(clusterId: number): void;
  emitStatus(e: CapStatusEvent): void;
  /** This node declared a capability's data synced with no donor. */
  emitDonorless(e: DonorlessSyncEvent): void;
}

export interface SyncOptions {
  /** Seed fallback after this many seconds pending without a donor, counted from readiness (5). */
  seedFallbackInterval?: number;
  /** Seconds without a sync packet (or an answer to SYNC_REQ) before the sync fails (15). */
  syncTimeout?: number;
  /** Soft limit for the bytes of one SYNC packet (32768, as OpenSIPS's code). */
  syncPacketSize?: number;
  /** First retry delay after a failed sync, doubled per attempt (500 ms). */
  syncRetryMinMs?: number;
  /** Largest retry delay (10 s). */
  syncRetryMaxMs?: number;
  /** Replication packets kept while not synced (100,000); beyond it a new sync follows. */
  syncBufferMax?: number;
  /**
   * Seconds between anti-entropy rounds (default 30; 0 = off): a synced merge-mode capability
   * with a digest compares it with one synced node per round; on mismatch both merge a
   * full sync from each other.
   */
  antiEntropyInterval?: number;
}

/** SyncOptions with the defaults filled in, in milliseconds and bytes. */
export interface SyncTimers {
  readonly seedFallbackMs: number;
  readonly timeoutMs: number;
  readonly packetSize: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  readonly bufferMax: number;
  readonly antiEntropyMs: number;
}

export function syncTimers(o: SyncOptions = {}): SyncTimers {
  return {
    seedFallbackMs: Math.round((o.seedFallbackInterval ?? 5) * 1000),
    timeoutMs: Math.round((o.syncTimeout ?? 15) * 1000),
    packetSize: Math.max(64, Math.min(o.syncPacketSize ?? 32768, 65000)),
    retryMinMs: o.syncRetryMinMs ?? 500,
    retryMaxMs: o.syncRetryMaxMs ?? 10_000,
    bufferMax: o.syncBufferMax ?? 100_000,
    antiEntropyMs: Math.round((o.antiEntropyInterval ?? 30) * 1000),
  };
}
