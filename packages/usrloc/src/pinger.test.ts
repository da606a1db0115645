import { StatisticsRegistry } from '@sipedge/mi';
import { parseMessage, VirtualClock } from '@sipedge/sip';
import { describe, expect, it } from 'vitest';
import { Location } from './location.js';
import type { ContactRecord } from './model.js';
import { NatPinger, type PingReply, type PingRequest } from './pinger.js';

const T0 = Date.UTC(2026, 10, 23, 12);

function contact(i: number, over: Partial<ContactRecord> = {}): ContactRecord {
  return {
    id: `n1-s-${i}`,
    aor: `u${i}@example.com`,
    uri: `sip:u${i}@192.0.2.${i % 250}:5060`,
    params: '',
    received: `sip:198.51.100.${i % 250}:4${i % 1000}`,
    path: [],
    expires: T0 + 3_600_000,
    q: null,
    callId: `c${i}`,
    cseq: 1,
    flags: 0,
    userAgent: null,
    socket: null,
    methods: null,
    instance: null,
    regId: null,
    lastModified: T0,
    nodeId: 1,
    shtag: null,
    ...over,
  };
}

function fill(location: Location, list: ContactRecord[]): void {
  for (const c of list)
    location.commit(
      c.aor,
      [...location.contacts(c.aor), c],
      [{ type: 'insert', contact: c, reason: 'register' }],
    );
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('NatPinger', () => {
  it('pings every contact once per interval, spread over the ticks', async () => {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock });
    fill(
      location,
      Array.from({ length: 200 }, (_, i) => contact(i)),
    );
    const sent: PingRequest[] = [];
    const perTick: number[] = [];
    const pinger = new NatPinger({
      location,
      clock,
      intervalMs: 10_000,
      tickMs: 1000,
      send: async (p) => {
        sent.push(p);
        return { status: 200 };
      },
    });
    for (let t = 0; t < 10; t++) {
      perTick.push(pinger.runTick());
      await flush();
    }
    expect(sent).toHaveLength(200);
    expect(new Set(sent.map((p) => p.contact.id)).size).toBe(200);
    expect(Math.max(...perTick)).toBeLessThan(60); // spread, not all at once
    expect(perTick.filter((n) => n > 0).length).toBeGreaterThanOrEqual(8);
    const msg = parseMessage(sent[0]!.payload);
    expect(msg.method).toBe('OPTIONS');
    expect(msg.requestUri).toBe(sent[0]!.contact.uri);
    expect(sent[0]!.destination).toBe(sent[0]!.contact.received);
  });

  it('sends OPTIONS via the Path (Route set, first hop as destination) and CRLF in crlf mode', async () => {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock });
    fill(location, [contact(1, { path: ['<sip:edge1.example.com;lr>', '<sip:edge2;lr>'] })]);
    const sent: PingRequest[] = [];
    const send = async (p: PingRequest): Promise<PingReply> => {
      sent.push(p);
      return undefined;
    };
    new NatPinger({ location, clock, intervalMs: 1000, send }).runTick();
    const msg = parseMessage(sent[0]!.payload);
    expect(msg.values('route')).toEqual(['<sip:edge1.example.com;lr>', '<sip:edge2;lr>']);
    expect(sent[0]!.destination).toBe('sip:edge1.example.com;lr');
    new NatPinger({ location, clock, intervalMs: 1000, send, kind: 'crlf' }).runTick();
    expect(sent[1]!.payload.toString()).toBe('\r\n\r\n');
  });

  it('pings only contacts whose owner tag is active here, re-evaluated every tick', async () => {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock });
    fill(location, [contact(1, { shtag: 'vip' }), contact(2, { shtag: 'other' }), contact(3)]);
    let vipActive = false;
    const sent: string[] = [];
    const pinger = new NatPinger({
      location,
      clock,
      intervalMs: 1000,
      isTagActive: (t) => t === 'vip' && vipActive,
      send: async (p) => {
        sent.push(p.contact.id);
        return { status: 200 };
      },
    });
    pinger.runTick();
    await flush();
    expect(sent).toEqual(['n1-s-3']);
    vipActive = true;
    pinger.runTick();
    await flush();
    expect(sent.slice(1).sort()).toEqual(['n1-s-1', 'n1-s-3']);
  });

  it('an owns() rule replaces the tag rule (a node pings what came in on its own sockets)', async () => {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock });
    fill(location, [
      contact(1, { socket: 'udp:10.0.0.1:5060' }),
      contact(2, { socket: 'udp:10.0.0.2:5060' }),
      contact(3, { shtag: 'vip', socket: 'udp:10.0.0.9:5060' }),
    ]);
    const sent: string[] = [];
    const pinger = new NatPinger({
      location,
      clock,
      intervalMs: 1000,
      isTagActive: () => false,
      owns: (c) => (c.shtag === null ? c.socket === 'udp:10.0.0.1:5060' : c.shtag === 'vip'),
      send: async (p) => {
        sent.push(p.contact.id);
        return { status: 200 };
      },
    });
    pinger.runTick();
    await flush();
    expect(sent.sort()).toEqual(['n1-s-1', 'n1-s-3']);
  });

  it('removes a contact after maxPingsLost unanswered pings; a real reply resets the count', async () => {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock });
    fill(location, [contact(1), contact(2)]);
    const stats = new StatisticsRegistry();
    const answer = new Map<string, PingReply>([['n1-s-2', { status: 200 }]]);
    const pinger = new NatPinger({
      location,
      clock,
      intervalMs: 10_000,
      tickMs: 10_000,
      timeoutMs: 2000,
      maxPingsLost: 3,
      stats,
      send: (p) => {
        const r = answer.get(p.contact.id);
        return r === undefined ? new Promise<PingReply>(() => {}) : Promise.resolve(r);
      },
    });
    const round = async (): Promise<void> => {
      pinger.runTick();
      await flush(); // replies that came arrive before the timeout
      clock.advance(2000);
      await flush();
    };
    await round();
    await round();
    expect(pinger.lostPings('n1-s-1')).toBe(2);
    answer.set('n1-s-1', { status: 404 }); // the UA itself answered: alive
    pinger.runTick();
    await flush();
    expect(pinger.lostPings('n1-s-1')).toBe(0);
    answer.delete('n1-s-1');
    for (let i = 0; i < 3; i++) await round();
    expect(location.contacts('u1@example.com')).toEqual([]);
    expect(location.contacts('u2@example.com')).toHaveLength(1);
    expect(stats.get('nathelper:contacts_removed')).toBe(1);
  });

  it('counts only real replies: 408/480 from an intermediary and late replies are lost pings', async () => {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock });
    fill(location, [contact(1)]);
    let release: ((r: PingReply) => void) | undefined;
    let mode: '408' | 'late' = '408';
    const pinger = new NatPinger({
      location,
      clock,
      intervalMs: 10_000,
      tickMs: 10_000,
      timeoutMs: 1000,
      maxPingsLost: 3,
      send: () =>
        mode === '408'
          ? Promise.resolve({ status: 408 })
          : new Promise<PingReply>((r) => {
              release = r;
            }),
    });
    pinger.runTick();
    await flush();
    expect(pinger.lostPings('n1-s-1')).toBe(1);
    mode = 'late';
    pinger.runTick();
    clock.advance(1000);
    release?.({ status: 200 });
    await flush();
    expect(pinger.lostPings('n1-s-1')).toBe(2);
    mode = '408';
    pinger.runTick();
    await flush();
    expect(location.contactCount).toBe(0);
  });

  it('start/stop run ticks on the clock and leave no timer behind', async () => {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock });
    fill(location, [contact(1)]);
    let n = 0;
    const pinger = new NatPinger({
      location,
      clock,
      intervalMs: 1000,
      send: async () => {
        n++;
        return { status: 200 };
      },
    });
    pinger.start();
    clock.advance(3000);
    await flush();
    expect(n).toBe(3);
    pinger.stop();
    expect(clock.pending).toBe(0);
  });
});
