/**
 * MI statistics in the Prometheus text exposition format (version 0.0.4), named after the
 * Prometheus naming guide: `<prefix>_<group>_<name>`, a unit suffix, `_total` on counters.
 */
import type { StatisticSnapshot } from './registry.js';

const clean = (text: string): string => text.replace(/[^A-Za-z0-9_]/g, '_');

/**
 * The Prometheus name of a statistic: `sipedge_<group>_<name>`, dots and dashes as
 * underscores, without the group said twice (`clusterer:clusterer_nodes` →
 * `sipedge_clusterer_nodes`), ending in its unit, and in `_total` for a counter.
 */
export function prometheusName(
  s: Pick<StatisticSnapshot, 'group' | 'name' | 'kind' | 'unit'>,
  prefix = 'sipedge',
): string {
  const group = clean(s.group);
  let name = clean(s.name);
  if (name.startsWith(`${group}_`) && name.length > group.length + 1) {
    name = name.slice(group.length + 1);
  }
  let base = `${prefix}_${group}_${name}`;
  if (s.kind === 'counter' && base.endsWith('_total')) base = base.slice(0, -'_total'.length);
  if (s.unit !== undefined && !base.endsWith(`_${s.unit}`)) base += `_${s.unit}`;
  return s.kind === 'counter' ? `${base}_total` : base;
}

/** HELP text: the description, and the MI name it is read from. */
export function prometheusHelp(s: Pick<StatisticSnapshot, 'group' | 'name' | 'help'>): string {
  const mi = `${s.group}:${s.name}`;
  return s.help === undefined ? `MI statistic ${mi} (no description)` : `${s.help} (MI ${mi})`;
}

const escapeHelp = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

const escapeLabel = (text: string): string =>
  text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function sampleValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

/**
 * The exposition of `stats`: HELP, TYPE and one sample per series. A second statistic that
 * maps to a name already written is left out (a family appears once).
 */
export function renderPrometheus(stats: readonly StatisticSnapshot[], prefix = 'sipedge'): string {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const s of stats) {
    const name = prometheusName(s, prefix);
    if (seen.has(name)) continue;
    seen.add(name);
    out.push(`# HELP ${name} ${escapeHelp(prometheusHelp(s))}`);
    out.push(`# TYPE ${name} ${s.kind}`);
    for (const [values, v] of s.series) {
      const labels =
        s.labels.length === 0
          ? ''
          : `{${s.labels.map((l, i) => `${l}="${escapeLabel(values[i] ?? '')}"`).join(',')}}`;
      out.push(`${name}${labels} ${sampleValue(v)}`);
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
