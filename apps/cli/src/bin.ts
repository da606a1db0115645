#!/usr/bin/env node
import { main } from './cli.js';

const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => controller.abort());
}
const code = await main(
  process.argv.slice(2),
  {
    out: (t) => process.stdout.write(`${t}\n`),
    err: (t) => process.stderr.write(`${t}\n`),
    signal: controller.signal,
  },
  process.env,
);
process.exitCode = code;
