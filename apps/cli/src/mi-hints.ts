/**
 * What the CLI makes of a command's description (MI `help`: its recipes and the JSON Schema of
 * its params) when a call does not fit: opensips-cli's way of giving an array parameter as
 * several words, the usage to print, and "did you mean" for a name that does not exist. No I/O.
 */

/** The parts of MI `help`'s answer used here. */
export interface CommandHelp {
  readonly name: string;
  /** Accepted sets of parameter names, in positional order. */
  readonly recipes: readonly (readonly string[])[];
  /** JSON Schema of the params object. */
  readonly schema: {
    readonly properties?: Readonly<Record<string, ParamSchema>>;
    readonly required?: readonly string[];
  };
}

interface ParamSchema {
  readonly type?: string | readonly string[];
  readonly anyOf?: readonly ParamSchema[];
  readonly description?: string;
}

/** Reads `help`'s answer (`{ Help, Recipes, Schema }`), or undefined when it is not that. */
export function commandHelp(name: string, answer: unknown): CommandHelp | undefined {
  if (typeof answer !== 'object' || answer === null) return undefined;
  const a = answer as { Recipes?: unknown; Schema?: unknown };
  if (!Array.isArray(a.Recipes) || typeof a.Schema !== 'object' || a.Schema === null) {
    return undefined;
  }
  return { name, recipes: a.Recipes as string[][], schema: a.Schema as CommandHelp['schema'] };
}

/** The JSON types a parameter takes (`anyOf` flattened). */
function typesOf(p: ParamSchema | undefined): string[] {
  if (p === undefined) return [];
  const own = p.type === undefined ? [] : typeof p.type === 'string' ? [p.type] : [...p.type];
  return [...own, ...(p.anyOf ?? []).flatMap(typesOf)];
}

/**
 * opensips-cli's habit: `mi get_statistics usrloc: mi:` gives an array parameter as several
 * words. When no recipe takes that many words, the words from the last parameter of the
 * longest recipe that fits on are sent as one array there. Undefined when that does not apply.
 */
export function packPositional(
  words: readonly unknown[],
  help: CommandHelp,
): unknown[] | undefined {
  if (help.recipes.some((r) => r.length === words.length)) return undefined;
  const props = help.schema.properties ?? {};
  const fits = help.recipes
    .filter((r) => r.length > 0 && r.length < words.length)
    .filter((r) => typesOf(props[r[r.length - 1]!]).includes('array'))
    .sort((a, b) => b.length - a.length);
  const recipe = fits[0];
  if (recipe === undefined) return undefined;
  const k = recipe.length - 1;
  return [...words.slice(0, k), words.slice(k)];
}

/**
 * How to call the command: one usage line per recipe (`sipedge mi sr_get_status <group>
 * [identifier]` style: optional parameters in brackets, an array as `<name…>`), then one line
 * per parameter with its type and description.
 */
export function usageLines(help: CommandHelp, namedOnly = false): string[] {
  const props = help.schema.properties ?? {};
  const required = new Set(help.schema.required ?? []);
  const names = Object.keys(props);
  const word = (n: string): string => {
    const many = typesOf(props[n]).includes('array') ? '…' : '';
    return required.has(n) ? `<${n}${many}>` : `[${n}${many}]`;
  };
  const lines: string[] = [];
  if (names.length === 0) {
    lines.push(`sipedge mi ${help.name}          (no parameters)`);
    return lines;
  }
  if (namedOnly) {
    lines.push(
      `sipedge mi ${help.name} ${names.map((n) => (required.has(n) ? `${n}=…` : `[${n}=…]`)).join(' ')}`,
      '(named parameters only)',
    );
  } else {
    lines.push(`sipedge mi ${help.name} ${names.map(word).join(' ')}`);
    lines.push(`   or: sipedge mi ${help.name} ${names.map((n) => `${n}=…`).join(' ')}`);
  }
  const width = Math.max(...names.map((n) => n.length));
  for (const n of names) {
    const p = props[n]!;
    const types = [...new Set(typesOf(p))].join(' or ') || 'any';
    const optional = required.has(n) ? '' : ', optional';
    const text = p.description === undefined ? '' : `  ${p.description}`;
    lines.push(`  ${n.padEnd(width)}  (${types}${optional})${text}`);
  }
  return lines;
}

/** Optimal string alignment distance: edits, each a change, insertion, deletion or swap. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The names closest to `typed`, best first, at most `max`: within a few edits (a third of the
 * length, at least 2), or containing it (`shtag` → `clusterer_list_shtags`); only those about
 * as close as the best one.
 */
export function didYouMean(typed: string, names: readonly string[], max = 3): string[] {
  const t = typed.toLowerCase();
  const limit = Math.max(2, Math.floor(t.length / 3));
  return names
    .map((n) => {
      const d = editDistance(t, n.toLowerCase());
      const contains = t.length >= 3 && n.toLowerCase().includes(t);
      return { n, score: d <= limit ? d : contains ? limit + 1 : Number.POSITIVE_INFINITY };
    })
    .filter((c) => Number.isFinite(c.score))
    .sort((a, b) => a.score - b.score || a.n.localeCompare(b.n))
    .filter((c, _, all) => c.score <= all[0]!.score + 1)
    .slice(0, max)
    .map((c) => c.n);
}
