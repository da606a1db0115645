// The flood detector's cost per request (`PikeDetector.check`): one source under the density,
// requests spread over many sources, a blocked source, and a spray of new addresses that keeps
// the table at its cap. `node dist/bench/pike.js` alone; `run.js` prints it too.
import { PikeDetector } from '../src/index.js';

/** ns per call: best and median of `rounds` rounds of `iters` calls. */
function measure(fn: (i: number) => unknown, iters = 200_000, rounds = 15) {
  let sink = 0;
  for (let i = 0; i < iters; i++) if (fn(i) === 'x') sink++; // warm-up
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) if (fn(i) === 'x') sink++;
    times.push(Number(process.hrtime.bigint() - t0) / iters);
  }
  if (sink < 0) console.log(sink);
  times.sort((a, b) => a - b);
  return { best: times[0]!, median: times[Math.floor(times.length / 2)]! };
}

const ns = (r: { best: number; median: number }) =>
  `${r.best.toFixed(0)} ns (median ${r.median.toFixed(0)} ns)`;

export function pikeRows(): Array<[string, string]> {
  const addresses = Array.from({ length: 4096 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
  const spray = Array.from({ length: 1 << 16 }, (_, i) => `10.2.${i >> 8}.${i & 255}`);
  // a density no single source reaches in these loops, except where it is meant to
  const open = () => new PikeDetector({ reqsDensityPerUnit: 1e12, samplingTimeUnitMs: 2000 });
  const one = open();
  const many = open();
  const blocked = new PikeDetector({ reqsDensityPerUnit: 1 });
  blocked.check('192.0.2.1');
  blocked.check('192.0.2.1');
  const capped = new PikeDetector({ reqsDensityPerUnit: 1e12, maxSources: 16_384 });
  return [
    ['one source, allowed', ns(measure(() => one.check('192.0.2.1')))],
    ['4,096 sources in turn, allowed', ns(measure((i) => many.check(addresses[i & 4095]!)))],
    ['a blocked source', ns(measure(() => blocked.check('192.0.2.1')))],
    [
      'a spray of new addresses at the 16,384 cap (evicting)',
      ns(measure((i) => capped.check(spray[i & 0xffff]!))),
    ],
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`PikeDetector.check, per request (node ${process.version}, ${process.arch})`);
  console.log('| case | time |');
  console.log('| --- | --- |');
  for (const [name, t] of pikeRows()) console.log(`| ${name} | ${t} |`);
}
