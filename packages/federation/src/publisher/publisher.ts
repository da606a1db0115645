/**
 * The publisher: tells the presence store which AoRs this site holds. One writer per site (the
 * node holding the site's `vip` tag); the others stay quiet until they take the tag over.
 *
 * - A change is queued per AoR (the latest value wins), never awaited by the REGISTER that
 *   caused it. Queued AoRs go out in batches (a partial batch waits `batchDelayMs` for more);
 *   the store pipelines each batch.
 * - A failed batch stays queued and is retried with exponential backoff; the federation is then
 *   degraded until a write or a probe succeeds, and is resynced whole on the way back (a Redis
 *   that restarted without persistence has forgotten everything).
 * - The queue is bounded: past `maxQueue` AoRs a new one is dropped and counted, and a resync
 *   (which rebuilds every entry from the location table) follows once the queue has drained;
 *   a resync itself reads the AoRs into the queue only as it has room.
 * - A resync writes every local AoR again and removes the ones this node published that are
 *   gone: idempotent, safe to run at any time (on taking the tag, on `ul_federation_resync`,
 *   every `resyncIntervalMs`).
 * - A refresh that extends an AoR by less than a quarter of its lifetime is not written: the
 *   entry in the store still outlives the refresh interval.
 */
import { type Clock, type Logger, monotonicClock, noopLogger, systemClock } from '@sipedge/core';
import { RecentMean } from '../recent-mean.js';
import type { PresenceStore, PresenceWrite } from '../store/store.js';

/** Where the publisher reads the site's AoRs: the location table, as seen by this node. */
export interface PresenceSource {
  /** Every AoR with contacts here, with its longest expiry (ms since the epoch). */
  entries(): Iterable<readonly [aor: string, expires: number]>;
  /** The longest expiry of `aor`'s contacts here, undefined when it has none. */
  expiresOf(aor: string): number | undefined;
}

export interface PublisherOptions {
  readonly site: string;
  readonly store: PresenceStore;
  readonly source: PresenceSource;
  /** Wall clock: expiries are compared with it (default the system clock). */
  readonly clock?: Clock;
  /** Measures store round trips (default the monotonic clock). */
  readonly timer?: Clock;
  /** AoRs per store batch (default 500). */
  readonly batchSize?: number;
  /**
   * How long the first change of a batch waits for others (default 20 ms): a burst of
   * REGISTERs becomes a few large pipelined batches rather than many of one AoR.
   */
  readonly batchDelayMs?: number;
  /** AoRs the queue holds at most (default 100 000). */
  readonly maxQueue?: number;
  /** First retry delay; doubles per failure up to `retryMaxMs` (defaults 100 ms, 5 s). */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** How often the store is probed while nothing is written (default 1 s; 0: never). */
  readonly probeIntervalMs?: number;
  /** A full resync this often while writer (default 10 min; 0: never). */
  readonly resyncIntervalMs?: number;
  readonly logger?: Logger;
  /** Called when the store becomes unreachable (`true`) and reachable again. */
  readonly onDegraded?: (degraded: boolean, reason: string) => void;
}

/** What the publisher has done, for metrics and `ul_federation_status`. */
export interface PublisherCounts {
  /** AoR writes the store acknowledged. */
  readonly written: number;
  /** Batches the store refused or did not answer. */
  readonly failedBatches: number;
  /** AoR changes dropped because the queue was full. */
  readonly dropped: number;
  readonly resyncs: number;
}

const LATENCY_SAMPLES = 64;

export class PresencePublisher {
  readonly #o: PublisherOptions;
  readonly #clock: Clock;
  readonly #timer: Clock;
  readonly #log: Logger;
  readonly #batchSize: number;
  readonly #maxQueue: number;
  /** AoR → expiry to write (0: remove), in the order they were first queued. */
  readonly #pending = new Map<string, number>();
  /** AoR → expiry the store acknowledged from this node. */
  readonly #published = new Map<string, number>();
  readonly #latency = new RecentMean(LATENCY_SAMPLES);
  #writer = false;
  #started = false;
  #inFlight = false;
  #flushTimer: unknown;
  /** The armed flush timer is the immediate one of a full batch. */
  #flushSoon = false;
  #retryTimer: unknown;
  #probeTimer: unknown;
  #resyncTimer: unknown;
  #failures = 0;
  #degraded = false;
  #overflowed = false;
  #resyncing: Iterator<readonly [string, number]> | undefined;
  #lastError: string | undefined;
  #written = 0;
  #failedBatches = 0;
  #dropped = 0;
  #resyncs = 0;

  constructor(options: PublisherOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#timer = options.timer ?? monotonicClock;
    this.#log = options.logger ?? noopLogger;
    this.#batchSize = options.batchSize ?? 500;
    this.#maxQueue = options.maxQueue ?? 100_000;
  }

  /** Starts probing the store (and resyncing, while writer). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#armProbe();
    this.#armResync();
  }

  /** Stops every timer; what is queued stays queued. Idempotent. */
  stop(): void {
    this.#started = false;
    for (const t of [this.#flushTimer, this.#retryTimer, this.#probeTimer, this.#resyncTimer]) {
      if (t !== undefined) this.#clock.clearTimeout(t);
    }
    this.#flushTimer = this.#retryTimer = this.#probeTimer = this.#resyncTimer = undefined;
  }

  /** Is this node the site's writer? */
  get writer(): boolean {
    return this.#writer;
  }

  /**
   * This node became the site's writer (it took the `vip` tag: resync) or stopped being it
   * (another node writes now: the queue is dropped).
   */
  setWriter(writer: boolean): void {
    if (writer === this.#writer) return;
    this.#writer = writer;
    if (writer) {
      this.resync();
    } else {
      this.#pending.clear();
      this.#published.clear();
      this.#overflowed = false;
      this.#resyncing = undefined;
    }
  }

  get degraded(): boolean {
    return this.#degraded;
  }

  get queueDepth(): number {
    return this.#pending.size;
  }

  /** AoRs whose presence the store acknowledged from this node. */
  get publishedCount(): number {
    return this.#published.size;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  get counts(): PublisherCounts {
    return {
      written: this.#written,
      failedBatches: this.#failedBatches,
      dropped: this.#dropped,
      resyncs: this.#resyncs,
    };
  }

  /** Mean round trip of the recent store writes, in ms (0 before the first). */
  get writeLatencyMs(): number {
    return this.#latency.mean;
  }

  /** The contacts of `aor` changed here: queue what the store must learn, if anything. */
  changed(aor: string): void {
    if (!this.#writer) return;
    const expires = this.#o.source.expiresOf(aor) ?? 0;
    const published = this.#published.get(aor);
    if (expires === 0) {
      if (published !== undefined || this.#pending.has(aor)) this.#enqueue(aor, 0);
      return;
    }
    if (published !== undefined && !this.#pending.has(aor)) {
      const lifetime = expires - this.#clock.now();
      if (expires - published < Math.max(1000, lifetime / 4)) return;
    }
    this.#enqueue(aor, expires);
  }

  /**
   * Writes every local AoR again, and the removal of every AoR this node published that is
   * gone. The AoRs are read as the queue has room, so a resync of more AoRs than `maxQueue`
   * goes through the bounded queue too. Restarts a resync under way.
   */
  resync(): void {
    if (!this.#writer) return;
    this.#resyncs++;
    this.#overflowed = false;
    this.#resyncing = this.#resyncWrites();
    this.#refill();
  }

  /** Is a resync still reading AoRs into the queue? */
  get resyncing(): boolean {
    return this.#resyncing !== undefined;
  }

  *#resyncWrites(): Generator<readonly [string, number]> {
    const source = this.#o.source;
    for (const aor of [...this.#published.keys()]) {
      if (source.expiresOf(aor) === undefined) yield [aor, 0];
    }
    yield* source.entries();
  }

  /** Moves AoRs of the resync under way into the queue while it has room. */
  #refill(): void {
    const cursor = this.#resyncing;
    if (cursor === undefined) return;
    while (this.#pending.size < this.#maxQueue) {
      const next = cursor.next();
      if (next.done === true) {
        this.#resyncing = undefined;
        break;
      }
      const [aor, expires] = next.value;
      this.#pending.set(aor, expires);
    }
    this.#scheduleFlush();
  }

  #enqueue(aor: string, expires: number): void {
    if (!this.#pending.has(aor) && this.#pending.size >= this.#maxQueue) {
      this.#dropped++;
      this.#overflowed = true;
      return;
    }
    this.#pending.set(aor, expires);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#inFlight || this.#retryTimer !== undefined) return;
    // a full batch goes at once; a partial one waits for company
    const full = this.#pending.size >= this.#batchSize;
    if (this.#flushTimer !== undefined) {
      if (!full || this.#flushSoon) return;
      this.#clock.clearTimeout(this.#flushTimer);
    }
    this.#flushSoon = full;
    const delay = full ? 0 : (this.#o.batchDelayMs ?? 20);
    this.#flushTimer = this.#clock.setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flush();
    }, delay);
  }

  #flush(): void {
    if (this.#pending.size === 0 || this.#inFlight || !this.#writer) return;
    const writes: PresenceWrite[] = [];
    for (const [aor, expires] of this.#pending) {
      writes.push({ aor, site: this.#o.site, expires });
      if (writes.length >= this.#batchSize) break;
    }
    this.#inFlight = true;
    const t0 = this.#timer.now();
    this.#o.store.write(writes).then(
      () => this.#acknowledged(writes, this.#timer.now() - t0),
      (err: unknown) => this.#failed(err),
    );
  }

  #acknowledged(writes: readonly PresenceWrite[], ms: number): void {
    this.#inFlight = false;
    this.#latency.add(ms);
    this.#written += writes.length;
    for (const w of writes) {
      if (this.#pending.get(w.aor) === w.expires) this.#pending.delete(w.aor);
      if (!this.#writer) continue;
      if (w.expires === 0) this.#published.delete(w.aor);
      else this.#published.set(w.aor, w.expires);
    }
    this.#failures = 0;
    this.#reachable();
    this.#refill();
    // changes were dropped while the queue was full: rebuild every entry
    if (this.#overflowed && this.#resyncing === undefined && this.#pending.size === 0) {
      this.resync();
    }
    if (this.#pending.size > 0) this.#scheduleFlush();
  }

  #failed(err: unknown): void {
    this.#inFlight = false;
    this.#failedBatches++;
    this.#unreachable(err);
    const delay = Math.min(
      this.#o.retryMaxMs ?? 5000,
      (this.#o.retryMinMs ?? 100) * 2 ** Math.min(this.#failures - 1, 16),
    );
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#flush();
    }, delay);
  }

  #unreachable(err: unknown): void {
    this.#failures++;
    this.#lastError = err instanceof Error ? err.message : String(err);
    if (this.#degraded) return;
    this.#degraded = true;
    this.#log.warn({ err: this.#lastError }, 'federation: presence store unreachable');
    this.#o.onDegraded?.(true, this.#lastError);
  }

  #reachable(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#log.info({}, 'federation: presence store reachable again; resyncing');
    this.#o.onDegraded?.(false, 'store reachable');
    // the store may have lost what it held: every entry is written again
    this.resync();
  }

  #armProbe(): void {
    const every = this.#o.probeIntervalMs ?? 1000;
    if (every <= 0 || !this.#started) return;
    this.#probeTimer = this.#clock.setTimeout(() => {
      this.#probeTimer = undefined;
      // a queue being written is probe enough
      if (this.#inFlight || this.#pending.size > 0) {
        this.#armProbe();
        return;
      }
      this.#o.store.sites(PROBE_AOR, this.#clock.now()).then(
        () => {
          this.#failures = 0;
          this.#reachable();
          this.#armProbe();
        },
        (err: unknown) => {
          this.#unreachable(err);
          this.#armProbe();
        },
      );
    }, every);
  }

  #armResync(): void {
    const every = this.#o.resyncIntervalMs ?? 600_000;
    if (every <= 0 || !this.#started) return;
    this.#resyncTimer = this.#clock.setTimeout(() => {
      this.#resyncTimer = undefined;
      this.resync();
      this.#armResync();
    }, every);
  }
}

/** The AoR the probe reads: any read proves the store answers. */
const PROBE_AOR = 'sipedge-federation-probe';
