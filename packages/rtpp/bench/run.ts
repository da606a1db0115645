/** Runs every benchmark of @sipedge/rtpp in turn. */
import { run as codec } from './codec.js';

const benches: [string, () => Promise<unknown>][] = [['codec', codec]];
const only = process.argv[2];
for (const [name, fn] of benches) {
  if (only !== undefined && only !== name) continue;
  await fn();
}
