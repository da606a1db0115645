import { z } from 'zod';
import { MiDefinitionError } from './errors.js';

/** OpenSIPS caps a recipe at 10 parameters (`MAX_MI_PARAMS`). */
export const MAX_MI_PARAMS = 10;

/** What a handler knows about the call it serves. */
export interface MiCallContext {
  /** Which transport carried the call: `http`, `ws`, `internal` … */
  readonly transport: string;
  /** The long-lived connection the call came on (WebSocket), when there is one. */
  readonly session?: MiSession;
}

/** A connection that can receive notifications (a WebSocket client). */
export interface MiSession {
  /** Stable id, unique per server, used as the subscriber's socket name (`ws:<id>`). */
  readonly id: string;
  /** Send one JSON-RPC notification text; false if the session is gone or was dropped. */
  send(text: string): boolean;
  /** Register a callback run once when the session ends. */
  onClose(listener: () => void): void;
}

// biome-ignore lint/suspicious/noExplicitAny: the registry holds commands of every shape
export type AnyParams = z.ZodObject<any>;

export interface MiCommandSpec<P extends AnyParams, R> {
  /** The method name (`get_statistics`, `clusterer_list` …). */
  name: string;
  /** One line for `help`. */
  description: string;
  /** The parameters as a zod object; omitted means the command takes none. */
  params?: P;
  /**
   * Positional recipes: ordered lists of parameter names, chosen by count. Omitted: the
   * required parameters in declaration order, then one more recipe per optional parameter.
   */
  recipes?: readonly (readonly (keyof z.infer<P> & string)[])[];
  /** Refuse positional params (OpenSIPS "Command only supports named parameters"). */
  namedOnly?: boolean;
  /** Who exports it (`core`, `clusterer` …); shown by `help`. */
  module?: string;
  /**
   * The command only reads state: running it changes nothing (lists, dumps, statistics,
   * status). Such commands are what other cluster nodes may run here by default.
   */
  readOnly?: boolean;
  handler: (params: z.infer<P>, ctx: MiCallContext) => R | Promise<R>;
}

/** A validated command, ready for a registry. */
export interface MiCommand {
  readonly name: string;
  readonly description: string;
  readonly module: string;
  readonly params: AnyParams;
  readonly recipes: readonly (readonly string[])[];
  readonly namedOnly: boolean;
  /** See `MiCommandSpec.readOnly` (false when not given). */
  readonly readOnly: boolean;
  readonly handler: (params: Record<string, unknown>, ctx: MiCallContext) => unknown;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_:.-]{0,127}$/;

function isOptional(schema: z.ZodType): boolean {
  return schema.safeParse(undefined).success;
}

/**
 * Define a command. Checks the recipes against the params (names exist, at most 10 each,
 * every required parameter in every recipe, no two recipes with the same name set).
 */
export function defineCommand<
  P extends AnyParams = z.ZodObject<Record<string, never>>,
  R = unknown,
>(spec: MiCommandSpec<P, R>): MiCommand {
  if (!NAME_RE.test(spec.name)) throw new MiDefinitionError(`bad command name '${spec.name}'`);
  const params = (spec.params ?? z.object({})) as AnyParams;
  const shape = params.shape as Record<string, z.ZodType>;
  const keys = Object.keys(shape);
  const required = keys.filter((k) => !isOptional(shape[k]!));
  let recipes: string[][];
  if (spec.recipes !== undefined) {
    recipes = spec.recipes.map((r) => [...r]);
  } else {
    recipes = [required];
    const optional = keys.filter((k) => !required.includes(k));
    for (let i = 1; i <= optional.length; i++) recipes.push([...required, ...optional.slice(0, i)]);
  }
  const seen = new Set<string>();
  for (const recipe of recipes) {
    if (recipe.length > MAX_MI_PARAMS) {
      throw new MiDefinitionError(`${spec.name}: a recipe has more than ${MAX_MI_PARAMS} params`);
    }
    if (new Set(recipe).size !== recipe.length) {
      throw new MiDefinitionError(`${spec.name}: a recipe repeats a name`);
    }
    for (const n of recipe) {
      if (!(n in shape))
        throw new MiDefinitionError(`${spec.name}: recipe names unknown param '${n}'`);
    }
    for (const n of required) {
      if (!recipe.includes(n)) {
        throw new MiDefinitionError(`${spec.name}: recipe [${recipe}] lacks required '${n}'`);
      }
    }
    const key = [...recipe].sort().join('\0');
    if (seen.has(key)) throw new MiDefinitionError(`${spec.name}: two recipes with the same names`);
    seen.add(key);
  }
  return Object.freeze({
    name: spec.name,
    description: spec.description,
    module: spec.module ?? 'core',
    params,
    recipes: Object.freeze(recipes.map((r) => Object.freeze(r))),
    namedOnly: spec.namedOnly ?? false,
    readOnly: spec.readOnly ?? false,
    handler: spec.handler as MiCommand['handler'],
  });
}
