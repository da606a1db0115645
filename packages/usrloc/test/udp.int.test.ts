import { createSocket, type Socket } from 'node:dgram';
import { VirtualClock } from '@sipedge/core/testing';
import { createResponse, parseMessage, type SipMessage, SipTransports } from '@sipedge/sip';
import { afterEach, describe, expect, it } from 'vitest';
import { Location, NatPinger, type PingReply, Registrar } from '../src/index.js';

function next(sock: Socket, timeoutMs = 2000): Promise<SipMessage> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      sock.off('message', on);
      reject(new Error('no datagram'));
    }, timeoutMs);
    const on = (buf: Buffer): void => {
      clearTimeout(t);
      sock.off('message', on);
      resolve(parseMessage(buf, { datagram: true }));
    };
    sock.on('message', on);
  });
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('registrar and pinger over loopback UDP', () => {
  it('a UA registers, is found by lookup, answers OPTIONS pings, and is removed once it stops', async () => {
    const location = new Location();
    const registrar = new Registrar(location);
    let localPort = 0;
    const pending = new Map<string, (r: PingReply) => void>();
    const server = new SipTransports({
      onMessage: (msg, from) => {
        if (msg.isRequest && msg.method === 'REGISTER') {
          const res = registrar.save(msg, {
            received: `sip:${from.address}:${from.port}`,
            socket: `udp:127.0.0.1:${localPort}`,
          });
          void server.send(res, from);
        } else if (!msg.isRequest) {
          pending.get(msg.callId())?.({ status: msg.status });
        }
      },
    });
    cleanup.push(() => server.close());
    localPort = (await server.listenUdp('127.0.0.1', 0)).port;

    const ua = createSocket('udp4');
    cleanup.push(() => new Promise<void>((r) => ua.close(() => r())));
    await new Promise<void>((r) => ua.bind(0, '127.0.0.1', () => r()));
    const uaPort = ua.address().port;
    const reg =
      `REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${uaPort};branch=z9hG4bKua1\r\n` +
      'Max-Forwards: 70\r\nTo: <sip:alice@example.com>\r\nFrom: <sip:alice@example.com>;tag=ua\r\n' +
      `Call-ID: ua-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@127.0.0.1:${uaPort}>;expires=300\r\nContent-Length: 0\r\n\r\n`;
    const replyP = next(ua);
    ua.send(reg, localPort, '127.0.0.1');
    const reply = await replyP;
    expect(reply.status).toBe(200);
    expect(reply.values('contact')).toEqual([`<sip:alice@127.0.0.1:${uaPort}>;expires=300`]);
    const [branch] = registrar.lookup('sip:alice@example.com');
    expect(branch?.destination).toBe(`sip:127.0.0.1:${uaPort}`);

    // the UA answers OPTIONS while it is alive
    let alive = true;
    let seen: (() => void) | undefined;
    ua.on('message', (buf) => {
      const m = parseMessage(buf, { datagram: true });
      if (m.isRequest && m.method === 'OPTIONS') {
        if (alive) ua.send(createResponse(m, 200, 'OK').toBuffer(), localPort, '127.0.0.1');
        seen?.();
      }
    });
    const clock = new VirtualClock(Date.now()); // ping timeouts on a virtual clock
    const replies: Promise<PingReply>[] = [];
    const pinger = new NatPinger({
      location,
      clock,
      intervalMs: 1000,
      timeoutMs: 300,
      removeAfterLost: 2,
      pingAll: true, // the UA is on loopback, not behind NAT
      send: (p) => {
        const reply = new Promise<PingReply>((resolve) => {
          const m = parseMessage(p.payload);
          pending.set(m.callId(), (r) => {
            pending.delete(m.callId());
            resolve(r);
          });
          const port = Number(/:(\d+)$/.exec(p.destination)?.[1]);
          server.sendUdp(p.payload, '127.0.0.1', port);
        });
        replies.push(reply);
        return reply;
      },
    });
    const within = <T>(p: Promise<T>): Promise<T> =>
      Promise.race([
        p,
        new Promise<T>((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000)),
      ]);
    const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
    pinger.start();
    // one ping round: tick until the contact is due (its first ping one interval after it
    // registered), wait for the reply (alive) or for the UA to get the ping, then time it out
    const tickAndSettle = async (): Promise<void> => {
      replies.length = 0;
      const got = new Promise<void>((r) => {
        seen = r;
      });
      for (let n = 0; n < 60 && replies.length === 0; n++) clock.advance(50); // not past the 300 ms wait
      expect(replies).toHaveLength(1);
      if (alive) await within(Promise.all(replies));
      else {
        await within(got);
        clock.advance(300);
      }
      await flush();
    };
    await tickAndSettle();
    expect(pinger.lostPings(branch!.contactId)).toBe(0);
    expect(location.contactCount).toBe(1);
    alive = false;
    await tickAndSettle();
    expect(pinger.lostPings(branch!.contactId)).toBe(1);
    await tickAndSettle();
    expect(location.contactCount).toBe(0);
    pinger.stop();
  });
});
