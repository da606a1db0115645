/**
 * The bare forwarding hop of the rtp-side benchmark: the least any balancer process between a
 * client and its members can do, and so the ceiling of a balancer written for Node.js on the
 * machine at hand. Each command datagram gets a cookie of the hop's own and goes to one member,
 * picked by a sum over the call-id's characters (so a call's U and D meet the same member);
 * each reply goes back to its client with the client's cookie. No parsing beyond the two
 * blanks, no call table, no retransmit cache, no timers.
 *
 * `node hop.js <member port>…` (members on 127.0.0.1); prints `hop ready port=<n>`.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

interface Pending {
  readonly cookie: string;
  readonly rinfo: RemoteInfo;
}

const ports = process.argv.slice(2).map(Number);
const front = createSocket('udp4');
const pending = new Map<string, Pending>();
let next = 0;

function answer(msg: Buffer): void {
  const text = msg.toString('latin1');
  const blank = text.indexOf(' ');
  const p = pending.get(text.slice(0, blank));
  if (p === undefined) return;
  pending.delete(text.slice(0, blank));
  front.send(Buffer.from(p.cookie + text.slice(blank), 'latin1'), p.rinfo.port, p.rinfo.address);
}

const backs: Socket[] = ports.map(() => createSocket('udp4').on('message', answer));

/** The member of the call-id that follows the command word (0 when there is none). */
function memberOf(text: string, blank: number): number {
  if (backs.length === 1) return 0;
  const start = text.indexOf(' ', blank + 1) + 1;
  if (start === 0) return 0;
  let sum = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32) break;
    sum += c;
  }
  return sum % backs.length;
}

front.on('message', (msg, rinfo) => {
  const text = msg.toString('latin1');
  const blank = text.indexOf(' ');
  if (blank <= 0) return;
  const cookie = `h${next++}`;
  pending.set(cookie, { cookie: text.slice(0, blank), rinfo });
  backs[memberOf(text, blank)]?.send(Buffer.from(cookie + text.slice(blank), 'latin1'));
});

await Promise.all(
  backs.map((b, i) => new Promise<void>((r) => b.connect(ports[i] ?? 0, '127.0.0.1', r))),
);
front.bind(0, '127.0.0.1', () => {
  console.log(`hop ready port=${front.address().port}`);
});
process.on('SIGTERM', () => {
  front.close();
  for (const b of backs) b.close();
});
