/**
 * What BIN link authentication costs, per packet and per connection (one process, no sockets).
 * Run with `node packages/clusterer/dist/bench/auth.js` after `npx tsc -b packages/clusterer`.
 *   1. frame + decode of a 160 B usrloc replication packet: the receive work a packet costs now;
 *   2. an HMAC-SHA256 over a packet (what a MAC on every packet would add, on each side), for
 *      a PING (46 B), a replication packet (160 B), a full-MTU packet and a 32 KiB SYNC;
 *   3. signing and checking one hello: what sipedge pays, once per connection.
 */
import { createHmac, createSecretKey } from 'node:crypto';
import { encodeHello } from '../src/auth/hello.js';
import { LinkAuth } from '../src/auth/link-auth.js';
import { BinFramer } from '../src/bin/framing.js';
import { decodePacket, encodePacket } from '../src/bin/packet.js';

const SECRET = 'bench-secret-of-sixteen+';
/** The key imported once, as a per-packet MAC would hold it. */
const KEY = createSecretKey(Buffer.from(SECRET));

function perOp(n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 10_000); i++) fn(i);
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - t) / n;
}

const ns = (v: number): string => `${v < 10_000 ? v.toFixed(0) : Math.round(v)} ns`;

const repl = encodePacket({
  kind: 'module',
  cluster: 1,
  src: 1,
  dst: 2,
  capability: 'usrloc-contact-repl',
  version: 5,
  type: 3,
  body: Buffer.alloc(120, 1),
});
const stream = Buffer.concat(Array.from({ length: 1000 }, () => repl));
const framer = new BinFramer();
const decode =
  perOp(300, () => {
    for (const p of framer.push(stream).packets) decodePacket(p);
  }) / 1000;
console.log(`frame+decode, 160 B replication packet: ${ns(decode)} per packet`);

for (const [name, size] of [
  ['PING', 46],
  ['replication', repl.length],
  ['1,400 B', 1400],
  ['SYNC 32 KiB', 32_768],
] as const) {
  const packet = Buffer.alloc(size, 7);
  const mac = perOp(size > 10_000 ? 20_000 : 200_000, () => {
    createHmac('sha256', KEY).update(packet).digest();
  });
  const share =
    size === repl.length ? ` (${((mac / decode) * 100).toFixed(0)}% of frame+decode)` : '';
  console.log(`HMAC-SHA256 of one ${name} packet (${size} B): ${ns(mac)}${share}`);
}

let now = 1_700_000_000_000;
const clock = { now: () => now, setTimeout: () => 0, clearTimeout: () => {} };
const auth = new LinkAuth({ secrets: [SECRET] }, clock);
const sign = perOp(50_000, () => encodeHello(SECRET, 2, 1, now));
const hellos = Array.from({ length: 50_000 }, () => encodeHello(SECRET, 2, 1, now));
const check = perOp(50_000, (i) => {
  now += 1;
  auth.check(hellos[i % hellos.length] as Buffer, 1);
});
console.log(`hello: sign ${ns(sign)}, check ${ns(check)} (once per connection)`);
