import { type Clock, systemClock } from '@sipedge/core';
import { ctime } from '../ctime.js';
import { MiDefinitionError } from '../errors.js';
import type { EventBus } from '../events/bus.js';

/** Raised on every status change, with group, identifier, status, details?, old_status. */
export const SR_STATUS_CHANGED_EVENT = 'E_CORE_SR_STATUS_CHANGED';

/** Reports kept per identifier, as OpenSIPS does. */
export const SR_MAX_REPORTS = 200;

export interface SrReport {
  /** Seconds since the epoch. */
  Timestamp: number;
  /** `ctime` text without the trailing newline. */
  Date: string;
  Log: string;
}

export interface SrStatus {
  Readiness: boolean;
  Status: number;
  Details?: string;
}

/** One identifier of a group (`main`, `node_states`, `cap:usrloc-contact-repl` …). */
export class SrIdentifier {
  readonly group: string;
  readonly name: string;
  #status: number;
  #details: string | undefined;
  readonly #reports: SrReport[] = [];
  readonly #max: number;
  readonly #owner: StatusReportRegistry;

  /** @internal */
  constructor(
    owner: StatusReportRegistry,
    group: string,
    name: string,
    status: number,
    details: string | undefined,
    max: number,
  ) {
    this.#owner = owner;
    this.group = group;
    this.name = name;
    this.#status = status === 0 ? 1 : status;
    this.#details = details;
    this.#max = max;
  }

  get status(): number {
    return this.#status;
  }

  get details(): string | undefined {
    return this.#details;
  }

  /**
   * Set the status (0 becomes 1, as in OpenSIPS; negative means not ready) and details. Raises
   * `E_CORE_SR_STATUS_CHANGED` when the status or details change.
   */
  setStatus(status: number, details?: string): void {
    const next = status === 0 ? 1 : Math.trunc(status);
    const old = this.#status;
    if (next === old && details === this.#details) return;
    this.#status = next;
    this.#details = details;
    this.#owner._changed(this, old);
  }

  /** Append a report line; the oldest goes once 200 (or the configured cap) are kept. */
  report(log: string): void {
    const now = this.#owner._now();
    this.#reports.push({ Timestamp: Math.floor(now / 1000), Date: ctime(now), Log: log });
    if (this.#reports.length > this.#max) this.#reports.splice(0, this.#reports.length - this.#max);
  }

  /** The status object `sr_get_status` returns. */
  toStatus(): SrStatus {
    const s: SrStatus = { Readiness: this.#status >= 0, Status: this.#status };
    if (this.#details !== undefined) s.Details = this.#details;
    return s;
  }

  reports(): SrReport[] {
    return this.#reports.map((r) => ({ ...r }));
  }
}

export interface SrGroupOptions {
  /** Public groups are listed to everyone; kept for OpenSIPS parity (all groups show in MI). */
  public?: boolean;
}

/** A status/report group (`core`, `clusterer` …) holding identifiers. */
export class SrGroup {
  readonly name: string;
  readonly public: boolean;
  readonly #ids = new Map<string, SrIdentifier>();
  readonly #owner: StatusReportRegistry;

  /** @internal */
  constructor(owner: StatusReportRegistry, name: string, options: SrGroupOptions) {
    this.#owner = owner;
    this.name = name;
    this.public = options.public ?? false;
  }

  /** Create (or return the existing) identifier. */
  identifier(
    name: string,
    options: { status?: number; details?: string; maxReports?: number } = {},
  ): SrIdentifier {
    const existing = this.#ids.get(name);
    if (existing !== undefined) return existing;
    if (name.length === 0 || name.length > 128) throw new MiDefinitionError('bad identifier name');
    const id = new SrIdentifier(
      this.#owner,
      this.name,
      name,
      options.status ?? 1,
      options.details,
      Math.max(1, options.maxReports ?? SR_MAX_REPORTS),
    );
    this.#ids.set(name, id);
    return id;
  }

  get(name: string): SrIdentifier | undefined {
    return this.#ids.get(name);
  }

  identifiers(): SrIdentifier[] {
    return [...this.#ids.values()];
  }
}

/** The status/report interface of OpenSIPS (`status_report.c`). */
export class StatusReportRegistry {
  readonly #groups = new Map<string, SrGroup>();
  readonly #clock: Pick<Clock, 'now'>;
  readonly #events: EventBus | undefined;

  constructor(options: { clock?: Pick<Clock, 'now'>; events?: EventBus } = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#events = options.events;
    this.#events?.register(SR_STATUS_CHANGED_EVENT);
  }

  /** Create (or return the existing) group. */
  group(name: string, options: SrGroupOptions = {}): SrGroup {
    const existing = this.#groups.get(name);
    if (existing !== undefined) return existing;
    if (name.length === 0 || name.length > 64) throw new MiDefinitionError('bad group name');
    const g = new SrGroup(this, name, options);
    this.#groups.set(name, g);
    return g;
  }

  get(name: string): SrGroup | undefined {
    return this.#groups.get(name);
  }

  groups(): SrGroup[] {
    return [...this.#groups.values()];
  }

  /** @internal */
  _now(): number {
    return this.#clock.now();
  }

  /** @internal */
  _changed(id: SrIdentifier, old: number): void {
    if (this.#events === undefined) return;
    const params: Record<string, unknown> = {
      group: id.group,
      identifier: id.name,
      status: id.status,
    };
    if (id.details !== undefined) params.details = id.details;
    params.old_status = old;
    this.#events.raise(SR_STATUS_CHANGED_EVENT, params);
  }
}
