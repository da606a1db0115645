/**
 * Every cluster of one balancer process, in configuration order, with `reload` semantics of
 * rtp_cluster (docs/protocols/rtpproxy.md §5.7): new clusters and members are created, existing
 * members are reconfigured (reconnected when their address changed), members missing from the new
 * file are drained, clusters missing from it are shut down.
 */
import { RtpCluster } from './cluster/cluster.js';
import type { RtpClusterOptions } from './cluster/options.js';
import type { RtpClusterConfig } from './config/schema.js';

export interface ReloadResult {
  readonly clusters: number;
  readonly members: number;
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export type BalancerOptions = RtpClusterOptions & {
  /** Called for each cluster created, so the owner can open its control socket. */
  readonly onClusterAdded?: (cluster: RtpCluster) => void | Promise<void>;
  /** Called for each cluster shut down by a reload. */
  readonly onClusterRemoved?: (cluster: RtpCluster) => void | Promise<void>;
};

export class RtpBalancer {
  #clusters: RtpCluster[] = [];
  readonly #options: BalancerOptions;
  #started = false;

  constructor(config: RtpClusterConfig, options: BalancerOptions) {
    this.#options = options;
    this.#clusters = config.clusters.map((c) => new RtpCluster(c, options));
  }

  get clusters(): readonly RtpCluster[] {
    return this.#clusters;
  }

  cluster(name: string): RtpCluster | undefined {
    return this.#clusters.find((c) => c.name === name);
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    for (const c of this.#clusters) {
      c.start();
      await this.#options.onClusterAdded?.(c);
    }
  }

  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all(this.#clusters.map((c) => c.stop()));
  }

  async reload(config: RtpClusterConfig): Promise<ReloadResult> {
    const next: RtpCluster[] = [];
    const added: string[] = [];
    let members = 0;
    for (const cc of config.clusters) {
      let cluster = this.cluster(cc.name);
      if (cluster === undefined) {
        cluster = new RtpCluster(cc, this.#options);
        added.push(cc.name);
        if (this.#started) {
          cluster.start();
          await this.#options.onClusterAdded?.(cluster);
        }
      } else {
        await cluster.reconfigure(cc);
      }
      members += cc.rtpproxies.length;
      next.push(cluster);
    }
    const removed = this.#clusters.filter((c) => !next.includes(c));
    this.#clusters = next;
    for (const c of removed) {
      await c.stop();
      await this.#options.onClusterRemoved?.(c);
    }
    return { clusters: next.length, members, added, removed: removed.map((c) => c.name) };
  }
}
