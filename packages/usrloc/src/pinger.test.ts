import type { Logger } from '@sipedge/core';
import { VirtualClock } from '@sipedge/core/testing';
import { EventBus, StatisticsRegistry } from '@sipedge/mi';
import { parseMessage } from '@sipedge/sip';
import { describe, expect, it } from 'vitest';
import { plainContact } from '../test/contacts.js';
import { USRLOC_EVENTS } from './location/events.js';
import { Location } from './location/location.js';
import { type ContactRecord, FLAG_NAT } from './model.js';
import { isBehindNat } from './nat.js';
import { NatPinger, type PingReply, type PingRequest } from './pinger.js';

const T0 = Date.UTC(2026, 10, 23, 12);
const LONG_AGO = T0 - 3_600_000;

function contact(i: number, over: Partial<ContactRecord> = {}): ContactRecord {
  return plainContact(`n1-s-${i}`, {
    aor: `u${i}@example.com`,
    uri: `sip:u${i}@192.0.2.${i % 250}:5060`,
    received: `sip:198.51.100.${i % 250}:4${i % 1000}`,
    expires: T0 + 86_400_000,
    callId: `c${i}`,
    cseq: 1,
    flags: FLAG_NAT,
    lastModified: LONG_AGO,
    nodeId: 1,
    ...over,
  });
}

function fill(location: Location, list: readonly ContactRecord[]): void {
  location.commitMany(
    list.map((c) => ({
      aor: c.aor,
      next: [...location.contacts(c.aor), c],
      changes: [{ type: 'insert', contact: c, reason: 'register' }],
    })),
  );
}

/** A REGISTER refresh as the registrar commits it: same id, new lastModified. */
function refresh(location: Location, c: ContactRecord, now: number): ContactRecord {
  const next = { ...c, lastModified: now, cseq: c.cseq + 1 };
  location.commit(c.aor, [next], [{ type: 'refresh', contact: next, reason: 'register' }]);
  return next;
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Advances the clock tick by tick, letting replies settle between ticks. */
async function run(clock: VirtualClock, ms: number, tickMs = 1000): Promise<void> {
  for (let t = 0; t < ms; t += tickMs) {
    clock.advance(tickMs);
    await flush();
  }
}

function pingLog(): {
  times: Map<string, number[]>;
  send: (p: PingRequest) => Promise<PingReply>;
  sent: PingRequest[];
  clock: VirtualClock;
} {
  const clock = new VirtualClock(T0);
  const times = new Map<string, number[]>();
  const sent: PingRequest[] = [];
  return {
    clock,
    times,
    sent,
    send: async (p) => {
      sent.push(p);
      let t = times.get(p.contact.id);
      if (t === undefined) {
        t = [];
        times.set(p.contact.id, t);
      }
      t.push(clock.now());
      return p.kind === 'crlf' ? { pong: true } : { status: 200 };
    },
  };
}

const recorder = (): { logger: Logger; lines: { obj: unknown; msg: string }[] } => {
  const lines: { obj: unknown; msg: string }[] = [];
  const log = (obj: unknown, msg?: string): void => {
    lines.push({ obj, msg: msg ?? '' });
  };
  const logger: Logger = {
    trace: log,
    debug: log,
    info: log,
    warn: log,
    error: log,
    fatal: log,
    child: () => logger,
  } as unknown as Logger;
  return { logger, lines };
};

describe('NatPinger cadence', () => {
  // regression: a tick's quota of ceil(aors / 30) and a cursor restarting over a short list
  // pinged every contact about once a second (issue: phones removed within seconds)
  for (const n of [1, 7, 30, 31, 1000, 100_000]) {
    it(`pings each of ${n} contacts exactly once per interval, spread evenly`, async () => {
      const { clock, times, send, sent } = pingLog();
      const location = new Location({ clock });
      fill(
        location,
        Array.from({ length: n }, (_, i) => contact(i)),
      );
      const pinger = new NatPinger({ location, clock, send, intervalMs: 30_000, kind: 'crlf' });
      const perTick: number[] = [];
      pinger.start();
      const intervals = 4;
      for (let t = 0; t < intervals * 30; t++) {
        const before = sent.length;
        clock.advance(1000);
        await flush();
        perTick.push(sent.length - before);
      }
      expect(times.size).toBe(n);
      const off: string[] = []; // contacts not pinged exactly once per interval
      for (const [id, at] of times) {
        let ok = at.length === intervals;
        for (let k = 1; k < at.length; k++) ok &&= at[k]! - at[k - 1]! === 30_000;
        if (!ok) off.push(`${id}: ${at.map((t) => (t - T0) / 1000).join(',')}`);
      }
      expect(off.slice(0, 5)).toEqual([]);
      // spread: no tick sends more than its even share (rounded up)
      expect(Math.max(...perTick)).toBeLessThanOrEqual(Math.ceil(n / 30));
      pinger.stop();
    });
  }

  it('gives a new registration its first ping one interval later, and a refresh restarts it', async () => {
    const { clock, times, send } = pingLog();
    const location = new Location({ clock });
    const pinger = new NatPinger({ location, clock, send, intervalMs: 10_000 });
    pinger.start();
    await run(clock, 3000);
    const c = contact(1, { lastModified: clock.now() });
    fill(location, [c]);
    await run(clock, 9000);
    expect(times.get(c.id)).toBeUndefined(); // not at once, not before the interval
    await run(clock, 1000);
    expect(times.get(c.id)).toEqual([T0 + 13_000]);
    await run(clock, 5000); // T0 + 18 s
    refresh(location, c, clock.now());
    await run(clock, 9000);
    expect(times.get(c.id)).toHaveLength(1); // refreshed: the next ping moved to +10 s
    await run(clock, 1000);
    expect(times.get(c.id)).toEqual([T0 + 13_000, T0 + 28_000]);
    pinger.stop();
  });

  it('spreads a burst of registrations and never pings one contact twice within an interval', async () => {
    const { clock, times, send } = pingLog();
    const location = new Location({ clock });
    const pinger = new NatPinger({ location, clock, send, intervalMs: 30_000, kind: 'crlf' });
    pinger.start();
    await run(clock, 2000);
    const n = 3000;
    fill(
      location,
      Array.from({ length: n }, (_, i) => contact(i, { lastModified: clock.now() })),
    );
    const perTick: number[] = [];
    let before = 0;
    for (let t = 0; t < 150; t++) {
      clock.advance(1000);
      await flush();
      let total = 0;
      for (const v of times.values()) total += v.length;
      perTick.push(total - before);
      before = total;
    }
    expect(Math.max(...perTick)).toBeLessThanOrEqual(Math.ceil((n * 1.25) / 30));
    expect(times.size).toBe(n);
    for (const at of times.values()) {
      expect(at[0]).toBeGreaterThanOrEqual(T0 + 32_000); // one interval after registering
      for (let k = 1; k < at.length; k++)
        expect(at[k]! - at[k - 1]!).toBeGreaterThanOrEqual(30_000);
      expect(at.length).toBeGreaterThanOrEqual(3);
    }
    pinger.stop();
  });
});

describe('NatPinger: which contacts, which owner', () => {
  it('pings only contacts behind NAT unless pingAll', async () => {
    const nat = contact(1); // FLAG_NAT from the registrar
    const priv = contact(2, { flags: 0, uri: 'sip:u2@10.1.2.3:5060' });
    const moved = contact(3, {
      flags: 0,
      uri: 'sip:u3@203.0.113.9',
      received: 'sip:198.51.100.3:4003',
    });
    const direct = contact(4, {
      flags: 0,
      uri: 'sip:u4@127.0.0.1:5070',
      received: 'sip:127.0.0.1:5070',
    });
    const noReceived = contact(5, { flags: 0, uri: 'sip:u5@203.0.113.5', received: null });
    expect([nat, priv, moved, direct, noReceived].map((c) => isBehindNat(c))).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
    for (const pingAll of [false, true]) {
      const { clock, times, send } = pingLog();
      const location = new Location({ clock });
      fill(location, [nat, priv, moved, direct, noReceived]);
      const pinger = new NatPinger({ location, clock, send, intervalMs: 5000, pingAll });
      pinger.start();
      await run(clock, 5000);
      expect([...times.keys()].sort()).toEqual(
        pingAll
          ? ['n1-s-1', 'n1-s-2', 'n1-s-3', 'n1-s-4', 'n1-s-5']
          : ['n1-s-1', 'n1-s-2', 'n1-s-3'],
      );
      expect(pinger.scheduled).toBe(pingAll ? 5 : 3);
      pinger.stop();
    }
  });

  it('sends OPTIONS via the Path (Route set, first hop as destination) and CRLF in crlf mode', async () => {
    for (const kind of ['options', 'crlf'] as const) {
      const { clock, sent, send } = pingLog();
      const location = new Location({ clock });
      fill(location, [contact(1, { path: ['<sip:edge1.example.com;lr>', '<sip:edge2;lr>'] })]);
      const pinger = new NatPinger({ location, clock, intervalMs: 1000, send, kind });
      pinger.start();
      await run(clock, 1000);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.destination).toBe('sip:edge1.example.com;lr');
      expect(sent[0]!.timeoutMs).toBe(500);
      if (kind === 'crlf') expect(sent[0]!.payload.toString()).toBe('\r\n\r\n');
      else {
        const msg = parseMessage(sent[0]!.payload);
        expect(msg.method).toBe('OPTIONS');
        expect(msg.requestUri).toBe(sent[0]!.contact.uri);
        expect(msg.values('route')).toEqual(['<sip:edge1.example.com;lr>', '<sip:edge2;lr>']);
      }
      pinger.stop();
    }
  });

  it('pings only contacts whose owner tag is active here, re-evaluated at each ping', async () => {
    const { clock, times, send } = pingLog();
    const location = new Location({ clock });
    fill(location, [contact(1, { shtag: 'vip' }), contact(2, { shtag: 'other' }), contact(3)]);
    let vipActive = false;
    const pinger = new NatPinger({
      location,
      clock,
      intervalMs: 2000,
      isTagActive: (t) => t === 'vip' && vipActive,
      send,
    });
    pinger.start();
    await run(clock, 2000);
    expect([...times.keys()]).toEqual(['n1-s-3']);
    vipActive = true;
    await run(clock, 2000);
    expect([...times.keys()].sort()).toEqual(['n1-s-1', 'n1-s-3']);
    pinger.stop();
  });

  it('an owns() rule replaces the tag rule (a node pings what came in on its own sockets)', async () => {
    const { clock, times, send } = pingLog();
    const location = new Location({ clock });
    fill(location, [
      contact(1, { socket: 'udp:10.0.0.1:5060' }),
      contact(2, { socket: 'udp:10.0.0.2:5060' }),
      contact(3, { shtag: 'vip', socket: 'udp:10.0.0.9:5060' }),
    ]);
    const pinger = new NatPinger({
      location,
      clock,
      intervalMs: 1000,
      isTagActive: () => false,
      owns: (c) => (c.shtag === null ? c.socket === 'udp:10.0.0.1:5060' : c.shtag === 'vip'),
      send,
    });
    pinger.start();
    await run(clock, 1000);
    expect([...times.keys()].sort()).toEqual(['n1-s-1', 'n1-s-3']);
    pinger.stop();
  });

  it('start/stop run ticks on the clock and leave no timer behind', async () => {
    const { clock, times, send } = pingLog();
    const location = new Location({ clock });
    fill(location, [contact(1)]);
    const pinger = new NatPinger({ location, clock, intervalMs: 1000, send });
    pinger.start();
    await run(clock, 3000);
    expect(times.get('n1-s-1')).toHaveLength(3);
    pinger.stop();
    expect(clock.pending).toBe(0);
    expect(pinger.scheduled).toBe(0);
  });
});

describe('NatPinger: lost pings and removal', () => {
  /** A pinger over two contacts whose replies the test decides per contact id. */
  function lossRig(options: { removeAfterLost?: number } = {}) {
    const clock = new VirtualClock(T0);
    const events = new EventBus({ clock });
    const deleted: Record<string, unknown>[] = [];
    for (const e of USRLOC_EVENTS) events.register(e);
    events.on('E_UL_CONTACT_DELETE', (p) => deleted.push(p));
    const location = new Location({ clock, events, nodeId: 7 });
    // registered just now: the first pings go out one interval later, at +10 s
    fill(location, [contact(1, { lastModified: T0 }), contact(2, { lastModified: T0 })]);
    const stats = new StatisticsRegistry();
    const log = recorder();
    const answer = new Map<string, () => Promise<PingReply>>();
    const sends = new Map<string, number>();
    const pinger = new NatPinger({
      location,
      clock,
      intervalMs: 10_000,
      timeoutMs: 2000,
      stats,
      logger: log.logger,
      ...options,
      send: (p) => {
        sends.set(p.contact.id, (sends.get(p.contact.id) ?? 0) + 1);
        const a = answer.get(p.contact.id);
        return a === undefined ? new Promise<PingReply>(() => {}) : a();
      },
    });
    answer.set('n1-s-2', async () => ({ status: 200 }));
    return { clock, location, stats, log, answer, sends, pinger, deleted };
  }

  it('removes nothing by default, however many pings are lost', async () => {
    const { clock, location, pinger, stats, sends } = lossRig();
    pinger.start();
    await run(clock, 103_000);
    expect(sends.get('n1-s-1')).toBe(10);
    expect(pinger.lostPings('n1-s-1')).toBe(10);
    expect(pinger.lostPings('n1-s-2')).toBe(0);
    expect(location.contactCount).toBe(2);
    expect(stats.get('nathelper:pings_lost')).toBe(10);
    expect(stats.get('nathelper:contacts_removed')).toBe(0);
    pinger.stop();
  });

  it('with removeAfterLost, removes after that many timeouts: logged, counted, announced', async () => {
    const { clock, location, pinger, stats, log, deleted } = lossRig({ removeAfterLost: 3 });
    pinger.start();
    await run(clock, 23_000); // pings at +10 s and +20 s, each lost 2 s later
    expect(pinger.lostPings('n1-s-1')).toBe(2);
    expect(location.contactCount).toBe(2);
    await run(clock, 10_000);
    expect(location.contacts('u1@example.com')).toEqual([]);
    expect(location.contacts('u2@example.com')).toHaveLength(1);
    expect(stats.get('nathelper:contacts_removed')).toBe(1);
    expect(stats.get('nathelper:contacts_removed_timeout')).toBe(1);
    expect(deleted).toHaveLength(1);
    expect(deleted[0]).toMatchObject({
      aor: 'u1@example.com',
      contact_id: 'n1-s-1',
      reason: 'ping-timeout',
    });
    const line = log.lines.find((l) => l.msg.includes('removed'));
    expect(line?.obj).toMatchObject({
      aor: 'u1@example.com',
      contact: 'sip:u1@192.0.2.1:5060',
      pings_lost: 3,
      node: 7,
      reason: 'ping-timeout',
    });
    pinger.stop();
  });

  it('counts nothing lost before the timeout: an early 408, an early empty answer', async () => {
    for (const early of [async () => ({ status: 408 }), async () => undefined] as const) {
      const { clock, pinger, answer, stats } = lossRig({ removeAfterLost: 1 });
      answer.set('n1-s-1', early);
      pinger.start();
      await run(clock, 10_000); // the first ping went out at +10 s, its answer came at once
      expect(pinger.lostPings('n1-s-1')).toBe(0);
      expect(stats.get('nathelper:pings_lost')).toBe(0);
      await run(clock, 2000); // now its wait is over
      expect(stats.get('nathelper:pings_lost')).toBe(1);
      pinger.stop();
    }
  });

  it('a late reply is a lost ping; a real reply from the UA (even 404) resets the count', async () => {
    const { clock, pinger, answer } = lossRig();
    let release: ((r: PingReply) => void) | undefined;
    answer.set(
      'n1-s-1',
      () =>
        new Promise<PingReply>((r) => {
          release = r;
        }),
    );
    pinger.start();
    await run(clock, 13_000);
    release?.({ status: 200 }); // after the 2 s timeout
    await flush();
    expect(pinger.lostPings('n1-s-1')).toBe(1);
    answer.set('n1-s-1', async () => ({ status: 404 }));
    await run(clock, 10_000);
    expect(pinger.lostPings('n1-s-1')).toBe(0);
    pinger.stop();
  });

  it('an ICMP port unreachable counts at once', async () => {
    const { clock, pinger, answer, location, stats, deleted } = lossRig({ removeAfterLost: 2 });
    answer.set('n1-s-1', async () => ({ unreachable: true }));
    pinger.start();
    await run(clock, 10_000);
    expect(pinger.lostPings('n1-s-1')).toBe(1);
    await run(clock, 10_000);
    expect(location.contacts('u1@example.com')).toEqual([]);
    expect(stats.get('nathelper:contacts_removed_unreachable')).toBe(1);
    expect(deleted[0]).toMatchObject({ reason: 'ping-unreachable' });
    pinger.stop();
  });

  it('a local send failure is an error, not a lost ping', async () => {
    const { clock, pinger, answer, stats } = lossRig({ removeAfterLost: 1 });
    answer.set('n1-s-1', () => Promise.reject(new Error('no socket')));
    pinger.start();
    await run(clock, 30_000);
    expect(pinger.lostPings('n1-s-1')).toBe(0);
    expect(stats.get('nathelper:errors')).toBe(3);
    expect(stats.get('nathelper:pings_lost')).toBe(0);
    pinger.stop();
  });

  it('never removes a contact refreshed since its first unanswered ping', async () => {
    const { clock, pinger, location } = lossRig({ removeAfterLost: 2 });
    pinger.start();
    await run(clock, 13_000); // ping at +10 s lost at +12 s
    expect(pinger.lostPings('n1-s-1')).toBe(1);
    // the second ping goes out at +20 s; the UA refreshes while it is in flight
    await run(clock, 8000);
    const c = location.contacts('u1@example.com')[0]!;
    clock.advance(0);
    refresh(location, c, clock.now());
    await run(clock, 3000);
    expect(location.contacts('u1@example.com')).toHaveLength(1);
    expect(pinger.lostPings('n1-s-1')).toBe(0);
    pinger.stop();
  });
});
