/** Human-readable output: tables for lists of records, `key: value` lines for objects. */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isScalar(v: unknown): boolean {
  return v === null || typeof v !== 'object';
}

function isScalarList(v: unknown): boolean {
  return Array.isArray(v) && v.every(isScalar);
}

function isRecord(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (isScalarList(v)) return (v as unknown[]).map((x) => cell(x)).join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A table with aligned columns; the header is the union of keys in first-seen order. */
export function table(rows: readonly Record<string, unknown>[], indent = ''): string[] {
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const cells = rows.map((r) => cols.map((c) => cell(r[c])));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]): string =>
    indent +
    vals
      .map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
}

function flatRecord(r: Record<string, unknown>): boolean {
  return Object.values(r).every((v) => isScalar(v) || isScalarList(v));
}

function lines(value: unknown, indent: string): string[] {
  if (isScalar(value)) return [indent + cell(value)];
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}(none)`];
    if (value.every(isScalar)) return value.map((v) => indent + cell(v));
    if (value.every((v) => isRecord(v) && flatRecord(v))) {
      return table(value as Record<string, unknown>[], indent);
    }
    const out: string[] = [];
    value.forEach((v, i) => {
      if (i > 0) out.push('');
      out.push(...lines(v, indent));
    });
    return out;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  const width = Math.max(
    0,
    ...keys.filter((k) => isScalar(obj[k]) || isScalarList(obj[k])).map((k) => k.length),
  );
  const out: string[] = [];
  for (const k of keys) {
    const v = obj[k];
    if (isScalar(v) || isScalarList(v)) {
      const text = Array.isArray(v) && v.length === 0 ? '(none)' : cell(v);
      out.push(`${indent}${`${k}:`.padEnd(width + 1)} ${text}`);
    } else {
      out.push(`${indent}${k}:`);
      out.push(...lines(v, `${indent}  `));
    }
  }
  return out;
}

/** Render an MI result for people. */
export function render(value: unknown): string {
  return lines(value, '').join('\n');
}
