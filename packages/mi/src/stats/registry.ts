import { MiDefinitionError } from '../errors.js';

/** A monotonically increasing counter (OpenSIPS "incremental"); `reset_statistics` zeroes it. */
export interface Counter {
  readonly name: string;
  inc(by?: number): void;
  value(): number;
  reset(): void;
}

/** A value that goes up and down (OpenSIPS "non-incremental"); never reset by MI. */
export interface Gauge {
  readonly name: string;
  set(value: number): void;
  inc(by?: number): void;
  dec(by?: number): void;
  value(): number;
}

interface Stat {
  group: string;
  name: string;
  incremental: boolean;
  read(): number;
  reset(): void;
}

const PART_RE = /^[A-Za-z0-9_.-]{1,64}$/;

function check(group: string, name: string): void {
  if (!PART_RE.test(group) || !PART_RE.test(name)) {
    throw new MiDefinitionError(`bad statistic name '${group}:${name}'`);
  }
}

/**
 * Counters and gauges named `group:name` as in OpenSIPS. Registering the same name again with
 * the same kind returns the existing statistic, so packages may register idempotently.
 */
export class StatisticsRegistry {
  readonly #stats = new Map<string, Stat & { handle: Counter | Gauge }>();

  counter(group: string, name: string): Counter {
    const existing = this.#existing(group, name, true);
    if (existing !== undefined) return existing as Counter;
    let v = 0;
    const handle: Counter = {
      name: `${group}:${name}`,
      inc: (by = 1) => {
        v += by;
      },
      value: () => v,
      reset: () => {
        v = 0;
      },
    };
    this.#stats.set(handle.name, {
      group,
      name,
      incremental: true,
      read: handle.value,
      reset: handle.reset,
      handle,
    });
    return handle;
  }

  /** A settable gauge, or with `read` a gauge computed on demand (e.g. a map's size). */
  gauge(group: string, name: string, read?: () => number): Gauge {
    const existing = this.#existing(group, name, false);
    if (existing !== undefined) return existing as Gauge;
    let v = 0;
    const handle: Gauge = {
      name: `${group}:${name}`,
      set: (x) => {
        v = x;
      },
      inc: (by = 1) => {
        v += by;
      },
      dec: (by = 1) => {
        v -= by;
      },
      value: read ?? (() => v),
    };
    this.#stats.set(handle.name, {
      group,
      name,
      incremental: false,
      read: handle.value,
      reset: () => {},
      handle,
    });
    return handle;
  }

  #existing(group: string, name: string, incremental: boolean): Counter | Gauge | undefined {
    check(group, name);
    const s = this.#stats.get(`${group}:${name}`);
    if (s === undefined) return undefined;
    if (s.incremental !== incremental) {
      throw new MiDefinitionError(`statistic '${group}:${name}' exists with another kind`);
    }
    return s.handle;
  }

  /** Groups in registration order. */
  groups(): string[] {
    return [...new Set([...this.#stats.values()].map((s) => s.group))];
  }

  /**
   * Resolve OpenSIPS selectors: `all`, `group:` (a whole group), `group:name`, or a bare `name`
   * (in any group). Returns the matching full names, without duplicates, in registration order.
   */
  match(selectors: readonly string[]): string[] {
    const out = new Set<string>();
    for (const sel of selectors) {
      for (const [full, s] of this.#stats) {
        if (sel === 'all') out.add(full);
        else if (sel.endsWith(':') && s.group === sel.slice(0, -1)) out.add(full);
        else if (sel === full || (!sel.includes(':') && s.name === sel)) out.add(full);
      }
    }
    return [...out];
  }

  /** `{ "group:name": value }` for the selectors. */
  values(selectors: readonly string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const full of this.match(selectors)) out[full] = this.#stats.get(full)!.read();
    return out;
  }

  /** `{ "group:name": "incremental" | "non-incremental" }` for the selectors. */
  kinds(selectors: readonly string[]): Record<string, 'incremental' | 'non-incremental'> {
    const out: Record<string, 'incremental' | 'non-incremental'> = {};
    for (const full of this.match(selectors)) {
      out[full] = this.#stats.get(full)!.incremental ? 'incremental' : 'non-incremental';
    }
    return out;
  }

  /** Zero the counters among the selectors (gauges are left alone); returns how many. */
  reset(selectors: readonly string[]): number {
    let n = 0;
    for (const full of this.match(selectors)) {
      const s = this.#stats.get(full)!;
      if (s.incremental) {
        s.reset();
        n++;
      }
    }
    return n;
  }

  /**
   * The Prometheus text exposition of every statistic: counters as
   * `sipedge_<group>_<name>_total`, gauges as `sipedge_<group>_<name>` (dots and dashes become
   * underscores).
   */
  toPrometheus(prefix = 'sipedge'): string {
    const out: string[] = [];
    for (const s of this.#stats.values()) {
      const base = `${prefix}_${s.group}_${s.name}`.replace(/[^A-Za-z0-9_]/g, '_');
      const name = s.incremental ? `${base}_total` : base;
      out.push(`# TYPE ${name} ${s.incremental ? 'counter' : 'gauge'}`);
      out.push(`${name} ${s.read()}`);
    }
    return out.length === 0 ? '' : `${out.join('\n')}\n`;
  }

  /** The current value of one statistic, or undefined. */
  get(fullName: string): number | undefined {
    return this.#stats.get(fullName)?.read();
  }
}
