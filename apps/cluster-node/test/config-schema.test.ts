/**
 * The JSON Schema of the configuration (src/json-schema.ts): the committed copy is what the
 * live zod schema gives now, and every example YAML names it and holds only keys it declares.
 * When this fails after a change to src/config.ts: `npm run schema -w @sipedge/cluster-node`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadNodeConfig } from '../src/config.js';
import { CONFIG_SCHEMA_FILE, configJsonSchema, configJsonSchemaText } from '../src/json-schema.js';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = join(appDir, '..', '..');
const schemaFile = join(appDir, CONFIG_SCHEMA_FILE);
const MODELINE = /^# yaml-language-server: \$schema=(\S+)$/;

/** Every YAML file under examples/ (all of them are cluster-node configurations). */
function exampleYamls(dir = join(repoRoot, 'examples')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? exampleYamls(join(dir, e.name))
      : /\.ya?ml$/.test(e.name)
        ? [join(dir, e.name)]
        : [],
  );
}

interface JsonSchema {
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
}

/** The key paths of `value` that `schema` does not declare (objects, arrays and anyOf). */
function undeclaredKeys(value: unknown, schema: JsonSchema, path: string): string[] {
  if (schema.anyOf !== undefined) {
    const each = schema.anyOf.map((s) => undeclaredKeys(value, s, path));
    return each.find((keys) => keys.length === 0) ?? each[0] ?? [];
  }
  if (Array.isArray(value)) {
    return schema.items === undefined
      ? []
      : value.flatMap((v, i) => undeclaredKeys(v, schema.items as JsonSchema, `${path}[${i}]`));
  }
  if (value === null || typeof value !== 'object' || schema.properties === undefined) return [];
  return Object.entries(value).flatMap(([key, v]) => {
    const at = path === '' ? key : `${path}.${key}`;
    const declared = schema.properties?.[key];
    if (declared !== undefined) return undeclaredKeys(v, declared, at);
    return schema.additionalProperties === false ? [at] : [];
  });
}

it('the committed schema is what the zod schema gives now', () => {
  const committed = readFileSync(schemaFile, 'utf8');
  expect(
    committed === configJsonSchemaText(),
    `${relative(repoRoot, schemaFile)} is stale: run npm run schema -w @sipedge/cluster-node`,
  ).toBe(true);
});

it('refuses unknown keys at every level, as zod does', () => {
  const schema = configJsonSchema() as JsonSchema;
  expect(schema.additionalProperties).toBe(false);
  expect(undeclaredKeys({ node: { id: 1, nmae: 'x' }, sip: { listners: [] } }, schema, '')).toEqual(
    ['node.nmae', 'sip.listners'],
  );
});

const yamls = exampleYamls();

it('finds the example configurations', () => {
  expect(yamls.length).toBeGreaterThanOrEqual(3);
});

describe.each(yamls.map((f) => ({ file: f, name: relative(repoRoot, f) })))('$name', ({ file }) => {
  const text = readFileSync(file, 'utf8');

  it('names the schema on its first line, for yaml-language-server', () => {
    const [, target] = MODELINE.exec(text.split('\n')[0] ?? '') ?? [];
    expect(target).toBeDefined();
    expect(resolve(dirname(file), target ?? '')).toBe(schemaFile);
  });

  it('holds only keys the schema declares, and validates', () => {
    expect(undeclaredKeys(parse(text), configJsonSchema() as JsonSchema, '')).toEqual([]);
    expect(() => loadNodeConfig(file)).not.toThrow();
  });
});
