import { SeededRandom, VirtualClock } from '@sipedge/core/testing';
import { parseCommand, serializeReply } from '@sipedge/rtpp';
import { VIRTUAL_TIME_TIMEOUT_MS } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../media/memory.js';
import { MediaEngine } from './engine.js';

describe('random command sequences', { timeout: VIRTUAL_TIME_TIMEOUT_MS }, () => {
  it('never throw, always answer a serialisable reply, and keep 4 sockets per session', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const random = new SeededRandom(seed);
      const r = () => random.next();
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
      const net = new MemoryNetwork();
      const clock = new VirtualClock();
      const engine = new MediaEngine({
        transport: net,
        clock,
        ipv4: '127.0.0.1',
        portMin: 30000,
        portMax: 30023, // 12 pairs: exhaustion is reached
        ttl: 5,
        notifySockets: ['unix:/n.sock'],
        notifier: { send() {}, close() {} },
      });
      engine.start();
      const calls = ['c1', 'c2', 'c3'];
      const tags = ['a', 'a;1', 'a;2', 'b', 'b;1', 'x'];
      const peers: { send: (to: number, d: string) => void }[] = [];
      for (const port of [6000, 6002]) {
        const s = await net.bind('127.0.0.1', port, () => {});
        peers.push({ send: (to, d) => s.send(Buffer.from(d), to, '127.0.0.1') });
      }
      for (let step = 0; step < 200; step++) {
        const c = pick(calls);
        const text = pick([
          () =>
            `U${pick(['', 'A', 'w', 'n', 'c0,8', 'z20', 'q'])} ${c} 127.0.0.1 ${pick(['6000', '6002', '0', 'x'])} ${pick(tags)}${pick(['', ` ${pick(tags)}`])}`,
          () =>
            `L ${c} ${pick(['127.0.0.1', '0.0.0.0', '1.2.3'])} 6002 ${pick(tags)} ${pick(tags)}`,
          () => `U ${c} 127.0.0.1 6000 ${pick(tags)} unix:/n.sock t%20${step}`,
          () => `D${pick(['', 'w'])} ${c} ${pick(tags)}${pick(['', ` ${pick(tags)}`])}`,
          () =>
            `Q${pick(['', 'v'])} ${c} ${pick(tags)} ${pick(tags)}${pick(['', ' ttl nrelayed', ' bogus'])}`,
          () => pick(['V', 'VF 20081224', 'I', 'Il', 'G nsess_created npkts_rcvd', 'G nope', 'X']),
          () => `P3 ${c} prompt session ${pick(tags)}`,
        ])();
        const parsed = parseCommand(text);
        if (!parsed.ok) continue;
        const reply = await engine.handle(parsed.command);
        expect(() => serializeReply(reply), `seed ${seed} step ${step}: ${text}`).not.toThrow();
        if (r() < 0.3) {
          const live = engine.sessions();
          const s = live[Math.floor(r() * Math.max(1, live.length))];
          if (s !== undefined) pick(peers).send(pick(s.legs).port + (r() < 0.2 ? 1 : 0), 'rtp');
        }
        if (r() < 0.1) clock.advance(1000 + Math.floor(r() * 3000));
        // 2 peer sockets + RTP and RTCP for both legs of every live session
        expect(net.boundCount, `seed ${seed} step ${step}: ${text}`).toBe(
          2 + 4 * engine.sessionCount,
        );
      }
      await engine.stop();
      expect(net.boundCount).toBe(2);
    }
  });
});
