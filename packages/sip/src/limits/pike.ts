/**
 * Flood detection per source address, as OpenSIPS/Kamailio `pike`: requests are counted per
 * source in sampling units (`sampling_time_unit`); a source that sends more than
 * `reqs_density_per_unit` in one unit is blocked, and stays blocked until it has stayed at or
 * under the density for `remove_latency`. The caller drops (or answers) what a blocked source
 * sends and reports the block once, when `check` says `'blocked-now'`.
 *
 * Sans-I/O: time comes from a Clock and nothing is scheduled; the table is swept when a
 * sampling unit ends (on the next check) and when it is listed. Memory is bounded: at most
 * `maxSources` sources are counted per unit (the oldest counted is forgotten first) and at most
 * `maxSources` are blocked (the longest blocked is released first); both are counted.
 */
import { type Clock, monotonicClock } from '@sipedge/core';

export interface PikeOptions {
  readonly clock?: Pick<Clock, 'now'>;
  /** Length of one sampling unit in ms (OpenSIPS `sampling_time_unit`, there in s; default 2,000). */
  readonly samplingTimeUnitMs?: number;
  /** More requests than this from one source in one unit block it (`reqs_density_per_unit`; default 30). */
  readonly reqsDensityPerUnit?: number;
  /** A blocked source is released after this many ms at or under the density (default 120,000). */
  readonly removeLatencyMs?: number;
  /** Most sources counted in one unit, and most blocked at once (default 16,384 each). */
  readonly maxSources?: number;
}

/** `allowed`; `blocked-now`: this request made the source cross the density (report it); `blocked`. */
export type PikeVerdict = 'allowed' | 'blocked-now' | 'blocked';

/** A blocked source, as listed. */
export interface PikeBlock {
  readonly address: string;
  /** Clock time it was blocked at. */
  readonly since: number;
  /** Requests refused since it was blocked (the one that crossed the density included). */
  readonly dropped: number;
}

interface Block {
  since: number;
  /** The last sampling unit in which it sent more than the density. */
  lastOverUnit: number;
  dropped: number;
}

export interface PikeCounters {
  /** Sources that became blocked. */
  blocked: number;
  /** Requests refused: from blocked sources, and the one that crossed the density. */
  dropped: number;
  /** Blocks that ended after a quiet `remove_latency`. */
  released: number;
  /** Sources forgotten because the table was full (counted ones, then blocked ones). */
  evictedCounts: number;
  evictedBlocks: number;
}

export class PikeDetector {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #unitMs: number;
  readonly #density: number;
  readonly #latencyUnits: number;
  readonly #max: number;
  /**
   * The sources counted in the current unit: each has a slot of a ring, in the order they came;
   * a new source past the cap takes the slot of the one counted longest ago, found without a
   * scan (a spray of new addresses costs about three times what a known source costs).
   */
  readonly #slotOf = new Map<string, number>();
  readonly #ring: (string | undefined)[];
  readonly #counts: Uint32Array;
  #next = 0;
  #unit = Number.NEGATIVE_INFINITY;
  readonly #blocks = new Map<string, Block>();
  /** Called for each block that ends by itself (not by `remove`). */
  onReleased: ((address: string, block: PikeBlock) => void) | undefined;
  readonly counters: PikeCounters = {
    blocked: 0,
    dropped: 0,
    released: 0,
    evictedCounts: 0,
    evictedBlocks: 0,
  };

  constructor(options: PikeOptions = {}) {
    this.#clock = options.clock ?? monotonicClock;
    this.#unitMs = options.samplingTimeUnitMs ?? 2000;
    this.#density = options.reqsDensityPerUnit ?? 30;
    this.#latencyUnits = Math.max(
      1,
      Math.ceil((options.removeLatencyMs ?? 120_000) / this.#unitMs),
    );
    this.#max = options.maxSources ?? 16_384;
    this.#ring = new Array<string | undefined>(this.#max).fill(undefined);
    this.#counts = new Uint32Array(this.#max);
  }

  /** Counts a request from `address` and says whether it may be processed. */
  check(address: string): PikeVerdict {
    const unit = Math.floor(this.#clock.now() / this.#unitMs);
    if (unit !== this.#unit) this.#nextUnit(unit);
    let slot = this.#slotOf.get(address);
    if (slot === undefined) slot = this.#take(address);
    const n = ++this.#counts[slot]!;
    const block = this.#blocks.get(address);
    if (block === undefined) {
      if (n <= this.#density) return 'allowed';
      this.#block(address, unit);
      return 'blocked-now';
    }
    if (n > this.#density) block.lastOverUnit = unit;
    block.dropped++;
    this.counters.dropped++;
    return 'blocked';
  }

  /** Is `address` blocked (without counting a request)? */
  isBlocked(address: string): boolean {
    this.#sweepTo(Math.floor(this.#clock.now() / this.#unitMs));
    return this.#blocks.has(address);
  }

  /** The blocked sources, longest blocked first. */
  list(): PikeBlock[] {
    this.#sweepTo(Math.floor(this.#clock.now() / this.#unitMs));
    return [...this.#blocks].map(([address, b]) => ({
      address,
      since: b.since,
      dropped: b.dropped,
    }));
  }

  /** Unblocks `address` (every blocked source when omitted); returns how many were unblocked. */
  remove(address?: string): number {
    if (address !== undefined) {
      this.#slotOf.delete(address);
      return this.#blocks.delete(address) ? 1 : 0;
    }
    const n = this.#blocks.size;
    for (const a of this.#blocks.keys()) this.#slotOf.delete(a);
    this.#blocks.clear();
    return n;
  }

  get blockedCount(): number {
    return this.#blocks.size;
  }

  /** Sources counted in the current sampling unit. */
  get trackedCount(): number {
    return this.#slotOf.size;
  }

  /** A slot for a source new in this unit; past the cap, the one counted longest ago loses its. */
  #take(address: string): number {
    const slot = this.#next;
    this.#next = slot + 1 === this.#max ? 0 : slot + 1;
    const old = this.#ring[slot];
    if (old !== undefined && this.#slotOf.get(old) === slot) {
      this.#slotOf.delete(old);
      this.counters.evictedCounts++;
    }
    this.#ring[slot] = address;
    this.#counts[slot] = 0;
    this.#slotOf.set(address, slot);
    return slot;
  }

  #block(address: string, unit: number): void {
    if (this.#blocks.size >= this.#max) {
      const oldest = this.#blocks.keys().next().value as string;
      this.#blocks.delete(oldest);
      this.counters.evictedBlocks++;
    }
    this.#blocks.set(address, { since: this.#clock.now(), lastOverUnit: unit, dropped: 1 });
    this.counters.blocked++;
    this.counters.dropped++;
  }

  #nextUnit(unit: number): void {
    this.#unit = unit;
    if (this.#slotOf.size > 0) this.#slotOf.clear();
    this.#next = 0;
    this.#sweepTo(unit);
  }

  /** Releases the blocks quiet for `remove_latency` as of `unit`. */
  #sweepTo(unit: number): void {
    if (this.#blocks.size === 0) return;
    for (const [address, b] of this.#blocks) {
      // the current unit counts as quiet only once it is over
      if (unit - b.lastOverUnit <= this.#latencyUnits) continue;
      this.#blocks.delete(address);
      this.counters.released++;
      this.onReleased?.(address, { address, since: b.since, dropped: b.dropped });
    }
  }
}
