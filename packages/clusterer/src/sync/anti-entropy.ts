import type { LocalCapability } from './capability.js';
import type { SyncHost } from './host.js';
import { decodeCompare, encodeCompare, SIPEDGE_SYNC_COMPARE, sipedgeSyncPacket } from './wire.js';

/** What merge repair needs: the synced peers, a send, and a way to ask for a merge sync. */
export interface AntiEntropyHost
  extends Pick<SyncHost, 'myNodeId' | 'count' | 'candidates' | 'sendRouted' | 'speaksSipedge'> {
  capability(name: string, clusterId: number): LocalCapability | undefined;
  requestSync(name: string, from?: number): boolean;
}

/**
 * Repair of merge-mode capabilities, whose nodes stay synced while their data drifts apart
 * (replication packets lost with a crashing node, writes on both sides of a partition):
 * anti-entropy rounds compare dataset digests with one synced peer at a time and merge a full
 * sync both ways on a mismatch; with `resyncOnNodeUp`, a node that comes back up synced is
 * merged from at once.
 */
export class AntiEntropy {
  readonly #host: AntiEntropyHost;
  readonly #intervalMs: number;
  #turn = 0;

  constructor(host: AntiEntropyHost, intervalMs: number) {
    this.#host = host;
    this.#intervalMs = intervalMs;
  }

  /** A capability not wanting a sync: run its anti-entropy round when one is due. */
  tick(c: LocalCapability, now: number): void {
    if (c.ok && this.#intervalMs > 0 && now >= c.aeNext) this.#round(c, now);
  }

  #round(c: LocalCapability, now: number): void {
    c.aeNext = now + this.#intervalMs;
    if (c.syncMode !== 'merge' || c.handlers.digest === undefined) return;
    const peers = this.#host
      .candidates(c.clusterId, c.name)
      .filter((n) => n.ok && n.sipedge)
      .map((n) => n.id)
      .sort((a, b) => a - b);
    if (peers.length === 0) return;
    const dst = peers[this.#turn++ % peers.length] as number;
    this.#sendCompare(c, dst, false);
  }

  #sendCompare(c: LocalCapability, dst: number, reply: boolean): void {
    const body = encodeCompare({ capability: c.name, digest: c.handlers.digest?.() ?? '', reply });
    this.#host.count('anti_entropy_sent');
    this.#host.sendRouted(
      c.clusterId,
      dst,
      sipedgeSyncPacket(c.clusterId, this.#host.myNodeId, dst, SIPEDGE_SYNC_COMPARE, body),
    );
  }

  /** Anti-entropy digest from `src`: on mismatch merge its data (and make it merge ours). */
  onCompare(clusterId: number, src: number, body: Buffer): void {
    try {
      const { capability, digest, reply } = decodeCompare(body);
      const c = this.#host.capability(capability, clusterId);
      if (c === undefined || !c.ok || c.syncMode !== 'merge' || c.handlers.digest === undefined)
        return void this.#host.count('drop_anti_entropy');
      if (c.handlers.digest() === digest) return;
      this.#host.count('anti_entropy_mismatch');
      if (!reply && this.#host.speaksSipedge(clusterId, src)) this.#sendCompare(c, src, true);
      this.#host.requestSync(capability, src);
    } catch {
      this.#host.count('drop_anti_entropy');
    }
  }

  /** A node came up: with `resyncOnNodeUp`, merge from it once it is known to be synced. */
  nodeUp(c: LocalCapability, nodeId: number): void {
    if (c.resyncOnNodeUp && c.syncMode === 'merge' && c.ok) {
      c.resyncWait.add(nodeId);
      this.resyncFromUp(c);
    }
  }

  nodeDown(c: LocalCapability, nodeId: number): void {
    c.resyncWait.delete(nodeId);
    c.compareWait.delete(nodeId);
  }

  /**
   * `resyncOnNodeUp`: ask each node that came up, once its state is known, if it is synced. A
   * node that came up not synced (a restart that syncs from us) is compared with once it is,
   * unless anti-entropy is off: data it held alone (written before it crashed, never
   * replicated) comes back then, not a round later.
   */
  resyncFromUp(c: LocalCapability): void {
    if (c.resyncWait.size === 0 && c.compareWait.size === 0) return;
    if (!c.ok) {
      // a sync of our own is due anyway
      c.resyncWait.clear();
      c.compareWait.clear();
      return;
    }
    const peers = new Map(this.#host.candidates(c.clusterId, c.name).map((n) => [n.id, n]));
    for (const id of [...c.resyncWait]) {
      const n = peers.get(id);
      if (n === undefined) c.resyncWait.delete(id);
      else if (n.known) {
        c.resyncWait.delete(id);
        if (n.ok) {
          this.#host.count('resyncs_on_node_up');
          this.#host.requestSync(c.name, id);
        } else if (this.#intervalMs > 0 && n.sipedge && c.handlers.digest !== undefined)
          c.compareWait.add(id);
      }
    }
    for (const id of [...c.compareWait]) {
      const n = peers.get(id);
      if (n === undefined) c.compareWait.delete(id);
      else if (n.ok) {
        c.compareWait.delete(id);
        this.#host.count('compares_on_synced');
        this.#sendCompare(c, id, false);
      }
    }
  }
}
