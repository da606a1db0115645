// Writes schema/cluster-node.schema.json from the built zod schema (src/json-schema.ts).
// Run through `npm run schema -w @sipedge/cluster-node`, which builds first.
import { mkdirSync, writeFileSync } from 'node:fs';
import { CONFIG_SCHEMA_FILE, configJsonSchemaText } from '../dist/src/json-schema.js';

const file = new URL(`../${CONFIG_SCHEMA_FILE}`, import.meta.url);
mkdirSync(new URL('.', file), { recursive: true });
writeFileSync(file, configJsonSchemaText());
process.stdout.write(`wrote ${CONFIG_SCHEMA_FILE}\n`);
