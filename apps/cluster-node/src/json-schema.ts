/**
 * The JSON Schema of a cluster-node configuration file, generated from the zod schema so it
 * cannot say anything else: what a file may hold (input types, ranges, enums, defaults,
 * unknown keys refused), for editors (yaml-language-server completes and checks a YAML file
 * that names it in a `# yaml-language-server: $schema=…` line) and other tools. The checks
 * across keys (a neighbour with this node's id, a sharing tag of another cluster …) stay
 * zod's: `cluster-node --check` runs them.
 *
 * The committed copy is `schema/cluster-node.schema.json` (shipped in the package);
 * `npm run schema -w @sipedge/cluster-node` rewrites it, and a test fails while it is stale.
 */
import { z } from 'zod';
import { nodeConfigSchema } from './config.js';

/** Where the schema is committed and shipped, relative to the package directory. */
export const CONFIG_SCHEMA_FILE = 'schema/cluster-node.schema.json';

export function configJsonSchema(): Record<string, unknown> {
  // draft-07: the draft editors' language servers support best
  const { $schema, ...schema } = z.toJSONSchema(nodeConfigSchema, {
    io: 'input',
    target: 'draft-07',
  });
  return {
    $schema,
    title: 'sipedge cluster-node configuration',
    description:
      'The configuration file of cluster-node (YAML or JSON), as its zod schema validates it. Checks across keys are made by cluster-node --check.',
    ...schema,
  };
}

/** The file's text: the schema as indented JSON with a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
