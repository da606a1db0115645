/**
 * Runs every benchmark of @sipedge/rtpp: each module in this folder (compiled to dist/bench)
 * that exports `run()`, in name order. `node dist/bench/run.js codec` runs only `codec.js`.
 */
import { readdirSync } from 'node:fs';

const here = new URL('./', import.meta.url);
const only = process.argv[2];
const modules = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== 'run.js')
  .sort();
for (const file of modules) {
  const name = file.slice(0, -3);
  if (only !== undefined && only !== name) continue;
  const mod = (await import(new URL(file, here).href)) as { run?: () => unknown };
  if (typeof mod.run === 'function') await mod.run();
}
