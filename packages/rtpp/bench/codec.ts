/**
 * Codec throughput on one core: parse + serialise of a typical U command (the Kamailio offer
 * with a three-codec list) and of its reply. Run with `npm run bench -w @sipedge/rtpp` (after
 * `npx tsc -b packages/rtpp`); `node dist/bench/run.js codec` runs only this file.
 */
import {
  parseCommand,
  parseReply,
  type RtppCommand,
  serializeCommand,
  serializeReply,
  withModifiers,
  withTags,
} from '../src/index.js';

const U = 'Uc0,8,101 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1';
const REPLY = '35000 127.0.0.1\n';

/**
 * Runs `fn` in batches for `seconds` and returns operations per CPU-second of this process
 * (user + system time), so that other processes on a shared machine do not distort the figure;
 * the wall-clock rate is printed beside it.
 */
function measure(name: string, fn: () => number, seconds = 1.5): number {
  let sink = 0;
  for (let i = 0; i < 100_000; i++) sink += fn(); // warm up
  let ops = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 10_000; i++) sink += fn();
    ops += 10_000;
    elapsed = process.hrtime.bigint() - start;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const perCpuSecond = ops / cpuSeconds;
  const perWallSecond = ops / (Number(elapsed) / 1e9);
  if (sink === 0) console.log('(empty sink)');
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log(
    `rtpp codec: ${name}: ${fmt(perCpuSecond)} ops/s of CPU time (wall clock: ${fmt(perWallSecond)} ops/s)`,
  );
  return perCpuSecond;
}

function parsed(text: string): RtppCommand {
  const r = parseCommand(text);
  if (!r.ok) throw new Error(`bench input does not parse: E${r.error.code}`);
  return r.command;
}

export async function run(): Promise<Record<string, number>> {
  // sanity: the figures below are only worth something if the work is the real one
  const cmd = parsed(U);
  if (serializeCommand(cmd) !== U || serializeReply(parseReply(REPLY, 'U')) !== REPLY) {
    throw new Error('codec bench: round trip changed the text');
  }
  const out: Record<string, number> = {};
  out['U parse+serialise (forwarded unchanged)'] = measure(
    'U command parse+serialise (forwarded unchanged)',
    () => serializeCommand(parsed(U)).length,
  );
  out['U parse+edit+serialise (tags swapped)'] = measure(
    'U command parse + tag swap + serialise (client modifier string kept)',
    () => {
      const c = parsed(U);
      if (c.kind !== 'U') return 0;
      return serializeCommand(withTags(c, 'x;1', c.fromTag)).length;
    },
  );
  out['U parse+serialise (canonical modifiers)'] = measure(
    'U command parse + serialise with modifiers rebuilt (canonical)',
    () => {
      const c = parsed(U);
      if (c.kind !== 'U') return 0;
      return serializeCommand(withModifiers(c, c.mods)).length;
    },
  );
  out['U reply parse+serialise'] = measure(
    'U reply parse+serialise',
    () => serializeReply(parseReply(REPLY, 'U')).length,
  );
  out['U command and reply parse+serialise'] = measure(
    'U command + its reply, both parse+serialise',
    () => serializeCommand(parsed(U)).length + serializeReply(parseReply(REPLY, 'U')).length,
  );
  return out;
}
