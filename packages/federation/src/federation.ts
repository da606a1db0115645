/**
 * A node's part in the federation: the publisher (when this node is the site's writer), the
 * lookup of other sites, the statistics and events that say how it goes. The store and the
 * source of AoRs are given; the node decides who writes (the holder of the `vip` tag).
 */
import { type Clock, type Logger, noopLogger, systemClock } from '@sipedge/core';
import type { EventBus, StatisticsRegistry } from '@sipedge/mi';
import type { FederationConfig } from './config.js';
import { SiteLookup } from './lookup/lookup.js';
import { PresencePublisher, type PresenceSource } from './publisher/publisher.js';
import type { PresenceStore } from './store/store.js';

/** Raised when the store becomes unreachable: `{ site, reason }`. */
export const FEDERATION_DEGRADED_EVENT = 'E_FEDERATION_DEGRADED';
/** Raised when the store answers again: `{ site }`. */
export const FEDERATION_RESTORED_EVENT = 'E_FEDERATION_RESTORED';

export interface FederationOptions {
  readonly config: Readonly<FederationConfig>;
  readonly store: PresenceStore;
  readonly source: PresenceSource;
  readonly clock?: Clock;
  readonly timer?: Clock;
  readonly stats?: StatisticsRegistry;
  readonly events?: EventBus;
  readonly logger?: Logger;
}

/** Another site to fork to. */
export interface RemoteSite {
  readonly site: string;
  /** `host:port` of its service address. */
  readonly address: string;
}

/** What `ul_federation_status` shows. */
export interface FederationStatus {
  readonly site: string;
  readonly writer: boolean;
  readonly degraded: boolean;
  readonly last_error: string | null;
  readonly queue_depth: number;
  readonly published_aors: number;
  readonly written: number;
  readonly failed_batches: number;
  readonly dropped: number;
  readonly resyncs: number;
  readonly lookups: number;
  readonly lookup_cache_hits: number;
  readonly lookup_failures: number;
  readonly entries_cleaned: number;
  readonly write_latency_ms: number;
  readonly read_latency_ms: number;
  readonly sites: readonly RemoteSite[];
}

export class Federation {
  readonly publisher: PresencePublisher;
  readonly lookup: SiteLookup;
  readonly #config: Readonly<FederationConfig>;
  readonly #store: PresenceStore;
  readonly #addresses: ReadonlyMap<string, string>;
  #closed = false;

  constructor(options: FederationOptions) {
    const c = options.config;
    this.#config = c;
    this.#store = options.store;
    this.#addresses = new Map(c.sites.map((s) => [s.id, s.address]));
    const logger = options.logger ?? noopLogger;
    const clock = options.clock ?? systemClock;
    const events = options.events;
    this.publisher = new PresencePublisher({
      site: c.site,
      store: options.store,
      source: options.source,
      clock,
      ...(options.timer === undefined ? {} : { timer: options.timer }),
      batchSize: c.batch_size,
      maxQueue: c.queue_max,
      probeIntervalMs: c.probe_interval * 1000,
      resyncIntervalMs: c.resync_interval * 1000,
      logger,
      onDegraded: (degraded, reason) => {
        if (degraded) events?.raise(FEDERATION_DEGRADED_EVENT, { site: c.site, reason });
        else events?.raise(FEDERATION_RESTORED_EVENT, { site: c.site });
      },
    });
    this.lookup = new SiteLookup({
      site: c.site,
      store: options.store,
      clock,
      ...(options.timer === undefined ? {} : { timer: options.timer }),
      positiveCacheMs: c.lookup_cache * 1000,
      negativeCacheMs: c.negative_cache * 1000,
      timeoutMs: c.lookup_timeout * 1000,
      logger,
    });
    events?.register(FEDERATION_DEGRADED_EVENT);
    events?.register(FEDERATION_RESTORED_EVENT);
    if (options.stats !== undefined) this.#registerStatistics(options.stats);
  }

  get site(): string {
    return this.#config.site;
  }

  start(): void {
    this.publisher.start();
  }

  /** Stops the timers and closes the store's connections; idempotent. */
  async stop(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.publisher.stop();
    await this.#store.close();
  }

  /** The other sites holding `aor`, with their addresses (unknown site ids are left out). */
  async remoteSites(aor: string): Promise<RemoteSite[]> {
    const out: RemoteSite[] = [];
    for (const s of await this.lookup.sites(aor)) {
      const address = this.#addresses.get(s.site);
      if (address !== undefined) out.push({ site: s.site, address });
    }
    return out;
  }

  status(): FederationStatus {
    const p = this.publisher;
    const l = this.lookup.counts;
    return {
      site: this.#config.site,
      writer: p.writer,
      degraded: p.degraded,
      last_error: p.lastError ?? null,
      queue_depth: p.queueDepth,
      published_aors: p.publishedCount,
      written: p.counts.written,
      failed_batches: p.counts.failedBatches,
      dropped: p.counts.dropped,
      resyncs: p.counts.resyncs,
      lookups: l.reads,
      lookup_cache_hits: l.cacheHits,
      lookup_failures: l.failures,
      entries_cleaned: l.cleaned,
      write_latency_ms: round(p.writeLatencyMs),
      read_latency_ms: round(this.lookup.readLatencyMs),
      sites: this.#config.sites
        .filter((s) => s.id !== this.#config.site)
        .map((s) => ({ site: s.id, address: s.address })),
    };
  }

  #registerStatistics(stats: StatisticsRegistry): void {
    const p = this.publisher;
    const l = this.lookup;
    const g = 'federation';
    stats.gauge(g, 'degraded', {
      help: 'Whether the presence store is unreachable (1) or answers (0)',
      read: () => (p.degraded ? 1 : 0),
    });
    stats.gauge(g, 'writer', {
      help: "Whether this node writes its site's presence (holds the vip tag)",
      read: () => (p.writer ? 1 : 0),
    });
    stats.gauge(g, 'queue_depth', {
      help: 'AoR changes waiting to be written to the presence store',
      read: () => p.queueDepth,
    });
    stats.gauge(g, 'store_write_latency', {
      help: 'Mean round trip of the recent presence store writes',
      unit: 'seconds',
      read: () => p.writeLatencyMs / 1000,
    });
    stats.gauge(g, 'store_read_latency', {
      help: 'Mean round trip of the recent presence store reads',
      unit: 'seconds',
      read: () => l.readLatencyMs / 1000,
    });
    stats.counter(g, 'presence_written', {
      help: 'AoR presence writes the store acknowledged',
      read: () => p.counts.written,
    });
    stats.counter(g, 'store_write_failures', {
      help: 'Presence batches the store refused or did not answer',
      read: () => p.counts.failedBatches,
    });
    stats.counter(g, 'presence_dropped', {
      help: 'AoR changes dropped because the queue was full (a resync follows)',
      read: () => p.counts.dropped,
    });
    stats.counter(g, 'lookups', {
      help: 'Presence store reads for a local miss',
      read: () => l.counts.reads,
    });
    stats.counter(g, 'lookup_cache_hits', {
      help: 'Local misses answered from the lookup cache',
      read: () => l.counts.cacheHits,
    });
    stats.counter(g, 'lookup_failures', {
      help: 'Presence store reads that failed or timed out',
      read: () => l.counts.failures,
    });
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
