/**
 * The reference hop of the benchmark: the least a process between client and member can do. It
 * rewrites the cookie of each command datagram, sends it to the member over a connected socket,
 * and sends the reply back with the client's cookie — no parsing, no call table, no retransmit
 * cache, no timers. Measured beside the balancer, it shows what one more Node.js process on the
 * path costs by itself on the machine at hand, so the balancer's own cost can be told apart.
 *
 * `node forwarder.js <member host> <member port>`; prints `forwarder ready port=<n>`.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';

const [host = '127.0.0.1', portText = '0'] = process.argv.slice(2);
const front = createSocket('udp4');
const back = createSocket('udp4');
const pending = new Map<string, { cookie: string; rinfo: RemoteInfo }>();
let next = 0;

front.on('message', (msg, rinfo) => {
  const text = msg.toString('latin1');
  const blank = text.indexOf(' ');
  if (blank <= 0) return;
  const cookie = `h${next++}`;
  pending.set(cookie, { cookie: text.slice(0, blank), rinfo });
  back.send(Buffer.from(cookie + text.slice(blank), 'latin1'));
});

back.on('message', (msg) => {
  const text = msg.toString('latin1');
  const blank = text.indexOf(' ');
  const cookie = text.slice(0, blank);
  const p = pending.get(cookie);
  if (p === undefined) return;
  pending.delete(cookie);
  front.send(Buffer.from(p.cookie + text.slice(blank), 'latin1'), p.rinfo.port, p.rinfo.address);
});

back.connect(Number(portText), host, () => {
  front.bind(0, '127.0.0.1', () => {
    console.log(`forwarder ready port=${front.address().port}`);
  });
});
process.on('SIGTERM', () => {
  front.close();
  back.close();
});
