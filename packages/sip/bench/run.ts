// @sipedge/sip benchmark: parse and proxy-edit times beside npm `sip` and `jssip`, and the rate
// of a stateless UDP forwarder on loopback. Prints each figure with its unit.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { forwardStateless, parseMessage, SipTransports } from '../src/index.js';
import { INVITE, REGISTER } from './messages.js';
import { pikeRows } from './pike.js';

const require = createRequire(import.meta.url);

interface Result {
  best: number;
  median: number;
}

/** ns per call: best and median of `rounds` rounds of `iters` calls. */
function measure(fn: () => unknown, iters = 50_000, rounds = 15): Result {
  let sink = 0;
  for (let i = 0; i < iters; i++) if (fn() !== undefined) sink++; // warm-up
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) if (fn() !== undefined) sink++;
    times.push(Number(process.hrtime.bigint() - t0) / iters);
  }
  if (sink < 0) console.log(sink);
  times.sort((a, b) => a - b);
  return { best: times[0]!, median: times[Math.floor(times.length / 2)]! };
}

function us(r: Result | undefined): string {
  if (r === undefined) return 'n/a';
  return `${(r.best / 1000).toFixed(2)} µs (median ${(r.median / 1000).toFixed(2)} µs)`;
}

type NpmSip = {
  parse(s: Buffer | string): Record<string, unknown> | undefined;
  stringify(m: unknown): string;
};
let npmSip: NpmSip | undefined;
try {
  npmSip = require('sip') as NpmSip;
} catch (e) {
  console.log(`npm sip: cannot load (${(e as Error).message})`);
}
type JsSipParser = { parseMessage(data: string, ua: unknown): unknown };
let jssipParser: JsSipParser | undefined;
try {
  jssipParser = require('jssip/lib/Parser') as JsSipParser;
} catch (e) {
  console.log(`jssip: cannot load its parser in Node (${(e as Error).message})`);
}
// jssip's IncomingRequest wants a UA; the parser only stores it, so a stub object will do.
const uaStub = {};

const invite = Buffer.from(INVITE, 'latin1');
const register = Buffer.from(REGISTER, 'latin1');
const inviteStr = INVITE;
const registerStr = REGISTER;

// sanity: every parser understands the messages before we time it
const ours = parseMessage(invite);
if (ours.cseq().method !== 'INVITE' || ours.vias().length !== 1)
  throw new Error('own parser broken');
const npmOk = npmSip?.parse(invite) !== undefined;
const jsOk = jssipParser?.parseMessage(inviteStr, uaStub) !== undefined;

console.log(`@sipedge/sip benchmark (node ${process.version}, ${process.arch})`);
console.log(
  `INVITE ${invite.length} bytes, REGISTER ${register.length} bytes; best of 15 rounds, median in brackets`,
);
console.log('');

const rows: Array<[string, Result | undefined, Result | undefined, Result | undefined]> = [];
rows.push([
  'parse INVITE',
  measure(() => parseMessage(invite)),
  npmOk ? measure(() => npmSip!.parse(invite)) : undefined,
  jsOk ? measure(() => jssipParser!.parseMessage(inviteStr, uaStub)) : undefined,
]);
rows.push([
  'parse REGISTER',
  measure(() => parseMessage(register)),
  npmOk ? measure(() => npmSip!.parse(register)) : undefined,
  jsOk ? measure(() => jssipParser!.parseMessage(registerStr, uaStub)) : undefined,
]);
rows.push([
  'parse INVITE + read Via, CSeq, Call-ID, From tag',
  measure(() => {
    const m = parseMessage(invite);
    return m.topVia()!.branch! + m.cseq().seq + m.callId() + m.fromTag();
  }),
  undefined,
  undefined,
]);
rows.push([
  'proxied INVITE: parse, add Via, remove Route, serialise',
  measure(() =>
    parseMessage(invite)
      .prependVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKproxy1')
      .removeTopRoute(),
  ),
  undefined,
  undefined,
]);
// the row above must include serialisation: redo it properly
rows[3]![1] = measure(() => {
  const m = parseMessage(invite);
  m.prependVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKproxy1');
  m.removeTopRoute();
  return m.toBuffer();
});
if (npmOk) {
  rows[3]![2] = measure(() => {
    const m = npmSip!.parse(invite) as { headers: { via: unknown[]; route?: unknown[] } };
    m.headers.via.unshift({
      version: '2.0',
      protocol: 'UDP',
      host: '192.0.2.1',
      port: 5060,
      params: { branch: 'z9hG4bKproxy1' },
    });
    m.headers.route?.shift();
    return Buffer.from(npmSip!.stringify(m), 'binary');
  });
}

console.log('| operation | @sipedge/sip | npm sip 0.0.6 | jssip 3.x | npm sip / ours |');
console.log('| --- | --- | --- | --- | --- |');
for (const [name, a, b, c] of rows) {
  const ratio = a !== undefined && b !== undefined ? `${(b.best / a.best).toFixed(1)}×` : '';
  console.log(`| ${name} | ${us(a)} | ${us(b)} | ${us(c)} | ${ratio} |`);
}
console.log('');
console.log(
  'npm sip and jssip are lossy (header case/order, duplicates merged); jssip is given a string',
);
console.log(
  '(its input type) and has no serialiser for received messages, so its proxied row is n/a.',
);
console.log('');

// ---- stateless UDP forwarder on loopback ----------------------------------------------------
const worker = new Worker(new URL('./loadgen.js', import.meta.url));
const sinkPort = await new Promise<number>((resolve) => {
  worker.once('message', (m: { type: string; port: number }) => resolve(m.port));
});
let forwarded = 0;
const self = { transport: 'UDP', host: '127.0.0.1', port: 0 as number | null };
const transports: SipTransports = new SipTransports({
  onMessage: (msg, from) => {
    // what a stateless proxy does (RFC 3261 §16.11): Max-Forwards, received/rport, own Via
    const out = forwardStateless(msg, self, from);
    transports.sendUdp(out, '127.0.0.1', sinkPort);
    forwarded++;
  },
});
const { port } = await transports.listenUdp('127.0.0.1', 0);
self.port = port;
const durationMs = Number(process.env.BENCH_FORWARD_MS ?? 3000);
const result = await new Promise<{ received: number; elapsedMs: number; sent: number }>(
  (resolve) => {
    worker.on(
      'message',
      (m: { type: string; received: number; elapsedMs: number; sent: number }) => {
        if (m.type === 'done') resolve(m);
      },
    );
    worker.postMessage({
      type: 'start',
      forwarder: port,
      durationMs,
      window: Number(process.env.BENCH_WINDOW ?? 256),
    });
  },
);
await transports.close();
await worker.terminate();
const rate = (result.received / result.elapsedMs) * 1000;
console.log(
  `stateless UDP forwarder (parse, Max-Forwards, received/rport, Via, send) on loopback: ${Math.round(rate).toLocaleString('en-US')} msgs/s over ${(result.elapsedMs / 1000).toFixed(1)} s (${forwarded} forwarded, ${result.sent} sent by the generator)`,
);

// ---- flood detector -------------------------------------------------------------------------
console.log('');
console.log('flood detector (PikeDetector.check) per request, best of 15 rounds:');
for (const [name, t] of pikeRows()) console.log(`  ${name}: ${t}`);
