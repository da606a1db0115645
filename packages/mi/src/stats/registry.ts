import { MiDefinitionError } from '../errors.js';
import { renderPrometheus } from './prometheus.js';

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

/** What an operator is told about a statistic. */
export interface StatisticInfo {
  /** One sentence saying what is counted or measured: Prometheus HELP. */
  readonly help?: string;
  /** The base unit of the value; the Prometheus name ends with it. */
  readonly unit?: 'seconds' | 'bytes';
}

/** A counter or gauge; with `read`, its value is kept elsewhere and read when shown. */
export interface StatisticOptions extends StatisticInfo {
  readonly read?: () => number;
}

/** One series of a labelled statistic: its label values, in the statistic's label order. */
export type Series = readonly [values: readonly string[], value: number];

/**
 * A statistic with labels (per relay, per node, per tag…), computed when read. MI shows its sum
 * as `group:name` and each series flattened as `group:name{label=value,…}`.
 */
export interface LabelledOptions extends StatisticInfo {
  /** Label names, e.g. `['cluster', 'tag']`. */
  readonly labels: readonly string[];
  readonly series: () => Iterable<Series>;
  /** The most series shown (default 100); the rest are summed into one labelled `_other`. */
  readonly maxSeries?: number;
  /** Whether the sum over the series means something (a count does, a delay does not). */
  readonly summable?: boolean;
}

/** A statistic as an exporter reads it. */
export interface StatisticSnapshot {
  readonly group: string;
  readonly name: string;
  readonly kind: 'counter' | 'gauge';
  readonly help: string | undefined;
  readonly unit: StatisticInfo['unit'];
  /** Label names; empty for a plain statistic, whose one series has no label values. */
  readonly labels: readonly string[];
  readonly series: readonly Series[];
}

/** The label values of the series past a statistic's `maxSeries`. */
export const OTHER_SERIES = '_other';

const DEFAULT_MAX_SERIES = 100;

interface Stat {
  readonly group: string;
  readonly name: string;
  readonly incremental: boolean;
  readonly info: StatisticInfo;
  readonly labels: readonly string[];
  readonly summable: boolean;
  /** The series as shown: after the reset baseline and the series cap. */
  series(): Series[];
  reset(): void;
  readonly handle: Counter | Gauge | undefined;
}

const PART_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const LABEL_RE = /^[a-z_][a-z0-9_]{0,63}$/;

function check(group: string, name: string): void {
  if (!PART_RE.test(group) || !PART_RE.test(name)) {
    throw new MiDefinitionError(`bad statistic name '${group}:${name}'`);
  }
}

function infoOf(options: string | StatisticInfo | undefined): StatisticInfo {
  return typeof options === 'string' ? { help: options } : (options ?? {});
}

/** `name{a=x,b=y}`: how MI shows one series. */
function flatName(full: string, labels: readonly string[], values: readonly string[]): string {
  return `${full}{${labels.map((l, i) => `${l}=${values[i] ?? ''}`).join(',')}}`;
}

/**
 * A counter kept elsewhere as one number or as series: MI `reset_statistics` remembers the
 * values at the reset and shows what came since; a source that went back (restarted) is
 * shown as it is.
 */
class Baseline {
  readonly #base = new Map<string, number>();
  apply(key: string, raw: number): number {
    const base = this.#base.get(key);
    if (base === undefined) return raw;
    if (raw < base) {
      this.#base.delete(key);
      return raw;
    }
    return raw - base;
  }
  set(entries: Iterable<Series>): void {
    this.#base.clear();
    for (const [values, v] of entries) this.#base.set(values.join('\0'), v);
  }
}

/** The first `max` series, and the rest summed into one labelled `_other`. */
function capped(series: Iterable<Series>, width: number, max: number): Series[] {
  const out: Series[] = [];
  let other: number | undefined;
  for (const s of series) {
    if (out.length < max) out.push(s);
    else other = (other ?? 0) + s[1];
  }
  if (other !== undefined) out.push([Array<string>(width).fill(OTHER_SERIES), other]);
  return out;
}

/**
 * Counters and gauges named `group:name` as in OpenSIPS, each with a description, and labelled
 * statistics computed when read. Registering the same name again with the same kind returns the
 * existing statistic, so packages may register idempotently.
 */
export class StatisticsRegistry {
  readonly #stats = new Map<string, Stat>();

  /**
   * A counter. `options` is its description, or `{ help, unit, read }`; with `read` the count
   * is kept elsewhere (a transport's own tally) and the returned handle only reads it.
   */
  counter(group: string, name: string, options?: string | StatisticOptions): Counter {
    const existing = this.#existing(group, name, true, false);
    if (existing !== undefined) return existing as Counter;
    const info = infoOf(options);
    const read = readOf(options);
    let v = 0;
    const baseline = new Baseline();
    const value = read === undefined ? () => v : () => baseline.apply('', read());
    const handle: Counter = {
      name: `${group}:${name}`,
      inc: (by = 1) => {
        v += by;
      },
      value,
      reset:
        read === undefined
          ? () => {
              v = 0;
            }
          : () => baseline.set([[[], read()]]),
    };
    this.#add({
      group,
      name,
      incremental: true,
      info,
      labels: [],
      summable: true,
      series: () => [[[], value()]],
      reset: handle.reset,
      handle,
    });
    return handle;
  }

  /**
   * A settable gauge, or with `read` a gauge computed on demand (e.g. a map's size). `options`
   * is its description, `{ help, unit, read }`, or (the older form) the `read` function alone.
   */
  gauge(group: string, name: string, options?: string | StatisticOptions | (() => number)): Gauge {
    const existing = this.#existing(group, name, false, false);
    if (existing !== undefined) return existing as Gauge;
    const read = typeof options === 'function' ? options : readOf(options);
    const info = typeof options === 'function' ? {} : infoOf(options);
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
    this.#add({
      group,
      name,
      incremental: false,
      info,
      labels: [],
      summable: true,
      series: () => [[[], handle.value()]],
      reset: () => {},
      handle,
    });
    return handle;
  }

  /** A counter with labels, read from where it is kept; MI's reset sets a baseline per series. */
  labelledCounter(group: string, name: string, options: LabelledOptions): void {
    if (this.#existing(group, name, true, true) !== undefined) return;
    const baseline = new Baseline();
    const max = this.#labelsChecked(group, name, options);
    this.#add({
      group,
      name,
      incremental: true,
      info: options,
      labels: options.labels,
      summable: options.summable ?? true,
      series: () =>
        capped(
          [...options.series()].map(([values, v]) => [
            values,
            baseline.apply(values.join('\0'), v),
          ]),
          options.labels.length,
          max,
        ),
      reset: () => baseline.set(options.series()),
      handle: undefined,
    });
  }

  /** A gauge with labels, computed when read. */
  labelledGauge(group: string, name: string, options: LabelledOptions): void {
    if (this.#existing(group, name, false, true) !== undefined) return;
    const max = this.#labelsChecked(group, name, options);
    this.#add({
      group,
      name,
      incremental: false,
      info: options,
      labels: options.labels,
      summable: options.summable ?? true,
      series: () => capped(options.series(), options.labels.length, max),
      reset: () => {},
      handle: undefined,
    });
  }

  #labelsChecked(group: string, name: string, options: LabelledOptions): number {
    if (options.labels.length === 0 || !options.labels.every((l) => LABEL_RE.test(l))) {
      throw new MiDefinitionError(`statistic '${group}:${name}': bad labels`);
    }
    const max = options.maxSeries ?? DEFAULT_MAX_SERIES;
    if (!Number.isInteger(max) || max < 1) {
      throw new MiDefinitionError(`statistic '${group}:${name}': bad maxSeries`);
    }
    return max;
  }

  #add(stat: Stat): void {
    this.#stats.set(`${stat.group}:${stat.name}`, stat);
  }

  #existing(
    group: string,
    name: string,
    incremental: boolean,
    labelled: boolean,
  ): Counter | Gauge | true | undefined {
    check(group, name);
    const s = this.#stats.get(`${group}:${name}`);
    if (s === undefined) return undefined;
    if (s.incremental !== incremental || s.labels.length > 0 !== labelled) {
      throw new MiDefinitionError(`statistic '${group}:${name}' exists with another kind`);
    }
    return s.handle ?? true;
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

  /**
   * `{ "group:name": value }` for the selectors. A labelled statistic shows its sum (when the
   * sum means something), then each series as `group:name{label=value,…}`; a selector may also
   * name one series that way.
   */
  values(selectors: readonly string[]): Record<string, number> {
    const out: Record<string, number> = {};
    const matched = new Set(this.match(selectors));
    const series = selectors.filter((s) => s.endsWith('}') && s.includes('{'));
    for (const [full, s] of this.#stats) {
      const whole = matched.has(full);
      if (!whole && !series.some((sel) => sel.startsWith(`${full}{`))) continue;
      const all = s.series();
      if (s.labels.length === 0) {
        out[full] = all[0]?.[1] ?? 0;
        continue;
      }
      if (whole && s.summable) out[full] = all.reduce((n, [, v]) => n + v, 0);
      for (const [values, v] of all) {
        const flat = flatName(full, s.labels, values);
        if (whole || series.includes(flat)) out[flat] = v;
      }
    }
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

  /** Every statistic with its description and current series, in registration order. */
  snapshot(): StatisticSnapshot[] {
    return [...this.#stats.values()].map((s) => ({
      group: s.group,
      name: s.name,
      kind: s.incremental ? 'counter' : 'gauge',
      help: s.info.help,
      unit: s.info.unit,
      labels: s.labels,
      series: s.series(),
    }));
  }

  /** The Prometheus text exposition of every statistic (see `prometheusName`). */
  toPrometheus(prefix = 'sipedge'): string {
    return renderPrometheus(this.snapshot(), prefix);
  }

  /** The current value of one statistic (a labelled one's sum), or undefined. */
  get(fullName: string): number | undefined {
    const s = this.#stats.get(fullName);
    if (s === undefined || !s.summable) return undefined;
    return s.series().reduce((n, [, v]) => n + v, 0);
  }
}

function readOf(options: string | StatisticOptions | undefined): (() => number) | undefined {
  return typeof options === 'object' ? options.read : undefined;
}
