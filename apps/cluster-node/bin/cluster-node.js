#!/usr/bin/env node
// The `cluster-node` command: runs the compiled bin from dist/, or says in one line how to build it.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/bin.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('cluster-node: not built; run "npm run build" at the repository root\n');
  process.exit(1);
}
await import(entry.href);
