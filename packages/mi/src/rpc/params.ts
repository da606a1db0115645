import type { z } from 'zod';
import type { MiCommand } from '../command.js';
import { MiParamsError } from '../errors.js';
import { ParamsText } from './codes.js';

type Kind = 'string' | 'number' | 'boolean' | 'array' | 'other';

const kindCache = new WeakMap<z.ZodType, Kind>();

/** The JSON shape a parameter expects, looking through optional/default/nullable wrappers. */
function kindOf(schema: z.ZodType): Kind {
  const cached = kindCache.get(schema);
  if (cached !== undefined) return cached;
  let s: z.ZodType = schema;
  let kind: Kind = 'other';
  for (let depth = 0; depth < 16; depth++) {
    const def = (s as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } })
      .def;
    if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable') {
      if (def.innerType === undefined) break;
      s = def.innerType;
      continue;
    }
    if (def.type === 'pipe' && def.in !== undefined) {
      s = def.in;
      continue;
    }
    if (def.type === 'string' || def.type === 'enum') kind = 'string';
    else if (def.type === 'number' || def.type === 'int') kind = 'number';
    else if (def.type === 'boolean') kind = 'boolean';
    else if (def.type === 'array') kind = 'array';
    break;
  }
  kindCache.set(schema, kind);
  return kind;
}

const NUMERIC_RE = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

/**
 * Coerce one value the way OpenSIPS does: an int parameter takes a number or a numeric string,
 * a string parameter takes a string or a number, an array parameter takes only an array.
 * Returns the value unchanged when there is nothing to coerce (zod then judges it).
 */
function coerce(kind: Kind, value: unknown): unknown {
  switch (kind) {
    case 'number':
      if (typeof value === 'string' && NUMERIC_RE.test(value)) return Number(value);
      return value;
    case 'string':
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
      return value;
    case 'boolean':
      if (value === 'true' || value === 1 || value === '1') return true;
      if (value === 'false' || value === 0 || value === '0') return false;
      return value;
    default:
      return value;
  }
}

/**
 * Map JSON-RPC `params` (undefined, array or object) onto a command's named params, choosing
 * the recipe as OpenSIPS does; then coerce and validate with zod. Throws `MiParamsError` with
 * the OpenSIPS `data` text.
 */
export function bindParams(cmd: MiCommand, raw: unknown): Record<string, unknown> {
  const named: Record<string, unknown> = {};
  if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) {
    if (!cmd.recipes.some((r) => r.length === 0)) throw new MiParamsError(ParamsText.count);
  } else if (Array.isArray(raw)) {
    if (cmd.namedOnly) throw new MiParamsError(ParamsText.namedOnly);
    let match: readonly string[] | undefined;
    for (const r of cmd.recipes) {
      if (r.length !== raw.length) continue;
      if (match !== undefined) throw new MiParamsError(ParamsText.ambiguous);
      match = r;
    }
    if (match === undefined) throw new MiParamsError(ParamsText.count);
    for (let i = 0; i < match.length; i++) named[match[i]!] = raw[i];
  } else {
    const obj = raw as Record<string, unknown>;
    const keys = Object.keys(obj);
    const recipe = cmd.recipes.find(
      (r) => r.length === keys.length && keys.every((k) => r.includes(k)),
    );
    if (recipe === undefined) {
      if (keys.length === 0) throw new MiParamsError(ParamsText.count);
      throw new MiParamsError(ParamsText.named);
    }
    for (const k of keys) named[k] = obj[k];
  }
  const shape = cmd.params.shape as Record<string, z.ZodType>;
  for (const k of Object.keys(named)) {
    const field = shape[k];
    if (field !== undefined) named[k] = coerce(kindOf(field), named[k]);
  }
  const parsed = cmd.params.safeParse(named);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const name = first !== undefined && first.path.length > 0 ? String(first.path[0]) : '?';
    throw new MiParamsError(ParamsText.badType(name));
  }
  return parsed.data as Record<string, unknown>;
}
