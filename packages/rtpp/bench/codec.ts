/**
 * Codec throughput: parse + serialise of a typical U command and of its reply, on one core.
 * Run with `npm run bench -w @sipedge/rtpp`.
 */
import { parseCommand, parseReply, serializeCommand, serializeReply } from '../src/index.js';

const U = 'Uc0,8,101 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1';
const REPLY = '35000 127.0.0.1\n';

function measure(name: string, fn: () => void, seconds = 1.5): { name: string; opsPerSec: number } {
  for (let i = 0; i < 50_000; i++) fn(); // warm up
  let ops = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 10_000; i++) fn();
    ops += 10_000;
    elapsed = process.hrtime.bigint() - start;
  }
  return { name, opsPerSec: ops / (Number(elapsed) / 1e9) };
}

export async function run(): Promise<Record<string, number>> {
  let sink = 0;
  const results = [
    measure('U command parse+serialise (forwarded unchanged)', () => {
      const r = parseCommand(U);
      if (r.ok) sink += serializeCommand(r.command).length;
    }),
    measure('U command parse+serialise (edited, canonical form)', () => {
      const r = parseCommand(U);
      if (r.ok) {
        const { raw: _raw, ...edited } = r.command;
        sink += serializeCommand(edited as typeof r.command).length;
      }
    }),
    measure('U reply parse+serialise', () => {
      sink += serializeReply(parseReply(REPLY, 'U')).length;
    }),
  ];
  const out: Record<string, number> = {};
  for (const r of results) {
    console.log(`rtpp codec: ${r.name}: ${Math.round(r.opsPerSec).toLocaleString('en-US')} ops/s`);
    out[r.name] = r.opsPerSec;
  }
  if (sink === 0) console.log('(sink)');
  return out;
}
