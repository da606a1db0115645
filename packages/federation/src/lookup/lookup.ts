/**
 * The lookup: which other sites hold an AoR, asked of the presence store on a local miss, with a
 * short cache of answers (positive and negative) so a burst of calls to one AoR costs one read.
 * A store that fails or is slow gives "no other site" (the call gets the local answer, 404)
 * and that answer is cached as a negative one: a dead store costs each AoR one timeout per
 * negative-cache period, not one per call.
 */
import { type Clock, type Logger, monotonicClock, noopLogger, systemClock } from '@sipedge/core';
import { FederationError } from '../errors.js';
import { RecentMean } from '../recent-mean.js';
import type { PresenceStore, SitePresence } from '../store/store.js';

export interface SiteLookupOptions {
  /** This site: never in an answer. */
  readonly site: string;
  readonly store: PresenceStore;
  /** Wall clock: entry expiries are compared with it (default the system clock). */
  readonly clock?: Clock;
  /** Cache times and store round trips (default the monotonic clock). */
  readonly timer?: Clock;
  /** How long an answer naming sites is reused (default 2 s). */
  readonly positiveCacheMs?: number;
  /** How long "no other site" is reused (default 1 s). */
  readonly negativeCacheMs?: number;
  /** A store read slower than this counts as failed (default 500 ms). */
  readonly timeoutMs?: number;
  /** AoRs cached at most; the oldest go first (default 10 000). */
  readonly maxCached?: number;
  readonly logger?: Logger;
}

interface Cached {
  readonly sites: readonly SitePresence[];
  readonly until: number;
}

export interface LookupCounts {
  readonly reads: number;
  readonly cacheHits: number;
  readonly failures: number;
  readonly cleaned: number;
}

export class SiteLookup {
  readonly #o: SiteLookupOptions;
  readonly #clock: Clock;
  readonly #timer: Clock;
  readonly #log: Logger;
  readonly #cache = new Map<string, Cached>();
  readonly #reading = new Map<string, Promise<readonly SitePresence[]>>();
  readonly #latency = new RecentMean();
  #reads = 0;
  #cacheHits = 0;
  #failures = 0;
  #cleaned = 0;

  constructor(options: SiteLookupOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#timer = options.timer ?? monotonicClock;
    this.#log = options.logger ?? noopLogger;
  }

  get counts(): LookupCounts {
    return {
      reads: this.#reads,
      cacheHits: this.#cacheHits,
      failures: this.#failures,
      cleaned: this.#cleaned,
    };
  }

  /** Mean round trip of the recent store reads, in ms (0 before the first). */
  get readLatencyMs(): number {
    return this.#latency.mean;
  }

  /** The other sites holding `aor` (never this one); never rejects. */
  sites(aor: string): Promise<readonly SitePresence[]> {
    const now = this.#timer.now();
    const hit = this.#cache.get(aor);
    if (hit !== undefined && hit.until > now) {
      this.#cacheHits++;
      return Promise.resolve(hit.sites);
    }
    const reading = this.#reading.get(aor);
    if (reading !== undefined) return reading;
    const read = this.#read(aor).finally(() => this.#reading.delete(aor));
    this.#reading.set(aor, read);
    return read;
  }

  /**
   * A site answered that it does not hold `aor` (404): its entry is dropped from the cache and,
   * if the store still says what it said, from the store.
   */
  notFound(aor: string, site: string): void {
    const hit = this.#cache.get(aor);
    const entry = hit?.sites.find((s) => s.site === site);
    if (hit !== undefined) {
      const sites = hit.sites.filter((s) => s.site !== site);
      this.#cache.set(aor, { sites, until: hit.until });
    }
    if (entry === undefined) return;
    this.#cleaned++;
    this.#o.store.removeIf(aor, site, entry.expires).catch((err: unknown) => {
      this.#log.debug({ err: (err as Error).message, aor, site }, 'federation: cleanup failed');
    });
  }

  async #read(aor: string): Promise<readonly SitePresence[]> {
    this.#reads++;
    const t0 = this.#timer.now();
    let sites: readonly SitePresence[];
    let ttl: number;
    try {
      const all = await this.#withTimeout(this.#o.store.sites(aor, this.#clock.now()));
      this.#latency.add(this.#timer.now() - t0);
      sites = all.filter((s) => s.site !== this.#o.site);
      ttl =
        sites.length > 0 ? (this.#o.positiveCacheMs ?? 2000) : (this.#o.negativeCacheMs ?? 1000);
    } catch (err) {
      this.#failures++;
      this.#log.debug({ err: (err as Error).message, aor }, 'federation: lookup failed');
      sites = [];
      ttl = this.#o.negativeCacheMs ?? 1000;
    }
    this.#remember(aor, { sites, until: this.#timer.now() + ttl });
    return sites;
  }

  #remember(aor: string, entry: Cached): void {
    this.#cache.delete(aor);
    this.#cache.set(aor, entry);
    const max = this.#o.maxCached ?? 10_000;
    while (this.#cache.size > max) {
      const oldest = this.#cache.keys().next();
      if (oldest.done === true) break;
      this.#cache.delete(oldest.value);
    }
  }

  #withTimeout<T>(p: Promise<T>): Promise<T> {
    const ms = this.#o.timeoutMs ?? 500;
    return new Promise<T>((resolve, reject) => {
      const t = this.#timer.setTimeout(
        () => reject(new FederationError('FED_STORE', `store read took over ${ms} ms`)),
        ms,
      );
      p.then(
        (v) => {
          this.#timer.clearTimeout(t);
          resolve(v);
        },
        (err: unknown) => {
          this.#timer.clearTimeout(t);
          reject(err);
        },
      );
    });
  }
}
