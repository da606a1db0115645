/**
 * RtppClient over UDP on a virtual clock and an in-memory datagram transport: the retransmit
 * schedule, the give-up time, RTT adaptation and stale replies, with no real time passing.
 */
import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { RTPP_CAPABILITIES } from '../codec/build.js';
import {
  RtppArgumentError,
  RtppClosedError,
  RtppProtocolError,
  RtppTimeoutError,
} from '../errors.js';
import { commandKindOf, RtppClient, type RtppClientOptions } from './client.js';
import type { RtppDatagramTransportHandlers } from './udp.js';

/** An in-memory "server" that records datagrams with their send times. */
function harness(options: Partial<RtppClientOptions> = {}) {
  const clock = new VirtualClock();
  const sent: { at: number; text: string }[] = [];
  let handlers: RtppDatagramTransportHandlers | undefined;
  const client = new RtppClient({
    socket: 'udp:127.0.0.1:22222',
    clock,
    cookie: 'c',
    datagramTransport: (_spec, h) => {
      handlers = h;
      return {
        send: (d) => sent.push({ at: clock.now(), text: Buffer.from(d).toString('latin1') }),
        close: () => {},
      };
    },
    ...options,
  });
  const reply = (text: string) => handlers!.onMessage(Buffer.from(text, 'latin1'));
  const times = (cookie: string) =>
    sent.filter((s) => s.text.startsWith(`${cookie} `)).map((s) => s.at);
  return { clock, sent, client, reply, times };
}

/** Settles microtasks so promise callbacks run. */
const flush = () => new Promise<void>((r) => setImmediate(r));

async function outcome<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

describe('RtppClient UDP retransmits (virtual time)', () => {
  it('with the initial estimate: send at 0, resend at 1 s, give up at 3 s', async () => {
    const h = harness();
    const p = outcome(h.client.send('V'));
    expect(h.times('c_0')).toEqual([0]);
    h.clock.advance(999);
    expect(h.times('c_0')).toEqual([0]);
    h.clock.advance(1);
    expect(h.times('c_0')).toEqual([0, 1000]);
    h.clock.advance(1999);
    await flush();
    expect(h.client.inFlight).toBe(1);
    h.clock.advance(1);
    const r = await p;
    expect(r.error).toBeInstanceOf(RtppTimeoutError);
    expect((r.error as RtppTimeoutError).attempts).toBe(2);
    expect(h.times('c_0')).toEqual([0, 1000]);
    expect(h.client.stats()).toMatchObject({ sent: 1, retransmits: 1, timeouts: 1, inFlight: 0 });
    expect(h.clock.pending).toBe(0);
  });

  it('doubles each wait and never sends past the budget', async () => {
    const h = harness({ timeoutMs: 10_000 });
    const p = outcome(h.client.send('V'));
    h.clock.advance(10_000);
    const r = await p;
    expect(h.times('c_0')).toEqual([0, 1000, 3000, 7000]);
    expect((r.error as RtppTimeoutError).attempts).toBe(4);
    expect((r.error as Error).message).toContain('4 attempt(s) in 10000 ms');
  });

  it('one timer for every command in flight, each retransmitted on its own schedule', async () => {
    const h = harness();
    const a = outcome(h.client.send('V'));
    h.clock.advance(300);
    const b = outcome(h.client.send('V'));
    h.clock.advance(300);
    const c = outcome(h.client.send('V'));
    expect(h.clock.pending).toBe(1);
    h.reply('c_1 20040107\n'); // b answered: the timer stays for a, then moves on to c
    await flush();
    h.clock.advance(400); // t = 1000: a's first retransmit
    expect(h.times('c_0')).toEqual([0, 1000]);
    expect(h.times('c_2')).toEqual([600]);
    h.clock.advance(600); // t = 1600: c's first retransmit; b never again
    expect(h.times('c_1')).toEqual([300]);
    expect(h.times('c_2')).toEqual([600, 1600]);
    expect(h.clock.pending).toBe(1);
    h.reply('c_0 20040107\n');
    h.reply('c_2 20040107\n');
    expect((await a).value).toEqual({ kind: 'value', value: '20040107' });
    expect((await b).value).toEqual({ kind: 'value', value: '20040107' });
    expect((await c).value).toEqual({ kind: 'value', value: '20040107' });
    expect(h.clock.pending).toBe(0);
  });

  it('arms its timer for whole milliseconds, rounded up, whatever the clock reads', async () => {
    const clock = new VirtualClock(0.37);
    const delays: number[] = [];
    const setTimeout = clock.setTimeout.bind(clock);
    clock.setTimeout = (fn: () => void, ms: number) => {
      delays.push(ms);
      return setTimeout(fn, ms);
    };
    const h = harness({ clock, initialRttMs: 12.3 });
    const p = outcome(h.client.send('V'));
    clock.advance(3000);
    expect((await p).error).toBeInstanceOf(RtppTimeoutError);
    expect(delays.length).toBeGreaterThan(1);
    for (const d of delays) expect(Number.isInteger(d)).toBe(true);
    expect(delays[0]).toBe(50); // 4 × 12.3 ms is below minRetryMs
  });

  it('a per-command budget overrides the client one', async () => {
    const h = harness();
    const p = outcome(h.client.send('V', { timeoutMs: 500 }));
    h.clock.advance(500);
    expect((await p).error).toBeInstanceOf(RtppTimeoutError);
    expect(h.times('c_0')).toEqual([0]);
  });

  it('adapts to the measured RTT: fast replies make the first retransmit come early', async () => {
    const h = harness();
    for (let i = 0; i < 3; i++) {
      const p = h.client.send('V');
      h.clock.advance(5);
      h.reply(`c_${i} 20040107\n`);
      expect(await p).toEqual({ kind: 'value', value: '20040107' });
    }
    expect(h.client.stats().srttMs).toBe(5);
    const p = outcome(h.client.send('V'));
    h.clock.advance(3000);
    await p;
    // 4 × 5 ms is below the 50 ms floor: 50, then 100, 200, … within the 3 s budget
    expect(h.times('c_3')).toEqual([0, 50, 150, 350, 750, 1550].map((t) => t + 15));
    // with a lower floor, 4 × RTT itself sets the first wait
    const fast = harness({ minRetryMs: 1 });
    const f = fast.client.send('V');
    fast.clock.advance(5);
    fast.reply('c_0 20040107\n');
    await f;
    void outcome(fast.client.send('V'));
    fast.clock.advance(100);
    expect(fast.times('c_1')).toEqual([5, 25, 65]);
    expect(h.client.stats().timeouts).toBe(1);
  });

  it('smooths RTT samples and bounds the first wait from above', async () => {
    const h = harness({ minRetryMs: 1, maxFirstRetryMs: 300 });
    const p1 = h.client.send('V');
    h.clock.advance(40);
    h.reply('c_0 20040107\n');
    await p1;
    expect(h.client.stats().srttMs).toBe(40); // the first sample replaces the estimate
    const p2 = h.client.send('V');
    h.clock.advance(120);
    h.reply('c_1 20040107\n');
    await p2;
    expect(h.client.stats().srttMs).toBe(50); // 40 + (120 - 40) / 8
    const p3 = outcome(h.client.send('V'));
    h.clock.advance(200);
    expect(h.times('c_2')).toEqual([160, 360]); // 4 × 50 = 200
    h.reply('c_2 20040107\n');
    await p3;
    // a reply to a retransmitted command gives no sample (Karn)
    expect(h.client.stats().srttMs).toBe(50);
    const h2 = harness({ maxFirstRetryMs: 300, initialRttMs: 5000 });
    void outcome(h2.client.send('V'));
    h2.clock.advance(300);
    expect(h2.times('c_0')).toEqual([0, 300]);
  });

  it('ignores stale and unknown replies, and late copies after the answer', async () => {
    const h = harness();
    const p = outcome(h.client.send('VF 20050322'));
    h.reply('zzz 1\n');
    h.reply('garbage');
    h.clock.advance(1000);
    h.reply('c_0 1\n');
    h.reply('c_0 1\n'); // the answer to the retransmit
    const r = await p;
    expect(r.value).toEqual({ kind: 'value', value: '1' });
    expect(h.client.stats().stale).toBe(3);
    // a reply for a command given up on
    const q = outcome(h.client.send('V'));
    h.clock.advance(3000);
    expect((await q).error).toBeInstanceOf(RtppTimeoutError);
    h.reply('c_1 20040107\n');
    expect(h.client.stats().stale).toBe(4);
  });

  it('keeps many commands in flight and matches replies by cookie in any order', async () => {
    const h = harness();
    const ps = Array.from({ length: 16 }, (_, i) => h.client.send(`D call${i} f`));
    expect(h.client.inFlight).toBe(16);
    const cookies = h.sent.map((s) => s.text.split(' ')[0]);
    expect(new Set(cookies).size).toBe(16);
    for (let i = 15; i >= 0; i--) h.reply(i % 2 ? `c_${i} 0\n` : `c_${i} E50\n`);
    const rs = await Promise.all(ps);
    rs.forEach((r, i) => {
      expect(r).toEqual(i % 2 ? { kind: 'value', value: '0' } : { kind: 'error', code: 50 });
    });
    expect(h.sent.map((s) => s.text.split(' ').slice(1).join(' '))).toEqual(
      Array.from({ length: 16 }, (_, i) => `D call${i} f`),
    );
  });

  it('parses replies for the command kind and rejects ones that do not parse', async () => {
    const h = harness();
    const u = h.client.send('Uc0 1-9094@127.0.0.1 127.0.0.1 6004 9094SIPpTag001;1');
    h.reply('c_0 37000 127.0.0.1 4\n');
    expect(await u).toEqual({
      kind: 'port',
      port: 37000,
      address: '127.0.0.1',
      ipv6: false,
      family: '4',
      subResults: [],
    });
    const bad = outcome(h.client.send('U c 1.2.3.4 5 f'));
    h.reply('c_1 this is not a port\n');
    expect((await bad).error).toBeInstanceOf(RtppProtocolError);
    const raw = h.client.sendRaw('I');
    h.reply('c_2 sessions created: 1\nactive sessions: 0\n');
    expect(await raw).toBe('sessions created: 1\nactive sessions: 0');
  });

  it('uses a cookie function, and never reuses a cookie still in flight', async () => {
    const h = harness({ cookie: () => 'same' });
    void outcome(h.client.send('V'));
    void outcome(h.client.send('V'));
    const [a, b] = h.sent.map((s) => s.text.split(' ')[0]);
    expect(a).toBe('same');
    expect(b).not.toBe('same');
    expect(b!.startsWith('same_')).toBe(true);
    const bad = harness({ cookie: () => 'has blank' });
    await expect(bad.client.send('V')).rejects.toBeInstanceOf(RtppArgumentError);
    expect(() => harness({ cookie: 'a b' })).toThrow(RtppArgumentError);
  });

  it('refuses bad command text before sending', async () => {
    const h = harness();
    for (const t of ['', '   ', 'V\nV', 'D a\0 b', 'D é€ x']) {
      await expect(h.client.sendRaw(t)).rejects.toBeInstanceOf(RtppArgumentError);
    }
    expect(h.sent).toHaveLength(0);
    const one = harness({ maxInFlight: 1 });
    void outcome(one.client.send('V'));
    await expect(one.client.send('V')).rejects.toThrow('already in flight');
  });

  it('destroy() fails commands in flight; close() waits for them', async () => {
    const h = harness();
    const p = outcome(h.client.send('V'));
    h.client.destroy();
    expect((await p).error).toBeInstanceOf(RtppClosedError);
    await expect(h.client.send('V')).rejects.toBeInstanceOf(RtppClosedError);
    expect(h.clock.pending).toBe(0);

    const g = harness();
    const q = g.client.send('V');
    const closed = g.client.close();
    await expect(g.client.send('V')).rejects.toBeInstanceOf(RtppClosedError);
    g.reply('c_0 20040107\n');
    expect(await q).toEqual({ kind: 'value', value: '20040107' });
    await closed;
  });

  it('sendRawCallback: the body without its newline, once and never synchronously; the same errors as sendRaw', async () => {
    const h = harness();
    const got: [Error | undefined, string | undefined][] = [];
    h.client.sendRawCallback('U a 127.0.0.1 7000 f', (e, body) => got.push([e, body]));
    h.client.sendRawCallback('D a f', (e, body) => got.push([e, body]));
    expect(h.sent.map((s) => s.text)).toEqual(['c_0 U a 127.0.0.1 7000 f', 'c_1 D a f']);
    h.reply('c_1 0\r\n');
    h.reply('c_0 35000 127.0.0.1\n');
    h.reply('c_0 35000 127.0.0.1\n'); // a late copy: stale, not a second call
    expect(got).toEqual([
      [undefined, '0'],
      [undefined, '35000 127.0.0.1'],
    ]);
    expect(h.client.stats()).toMatchObject({ sent: 2, stale: 1, inFlight: 0 });

    // a timeout, with the retransmit schedule of send()
    const t = harness({ timeoutMs: 2000 });
    let timedOut: unknown;
    t.client.sendRawCallback('V', (e) => {
      timedOut = e;
    });
    t.clock.advance(1999);
    expect(timedOut).toBeUndefined();
    expect(t.times('c_0')).toEqual([0, 1000]);
    t.clock.advance(1);
    expect(timedOut).toBeInstanceOf(RtppTimeoutError);

    // refused text and a closed client: an error, after the call returns
    const errors: unknown[] = [];
    h.client.sendRawCallback('V\nV', (e) => errors.push(e));
    expect(errors).toHaveLength(0);
    await flush();
    expect(errors[0]).toBeInstanceOf(RtppArgumentError);
    h.client.sendRawCallback('V', (e) => errors.push(e));
    h.client.destroy();
    h.client.sendRawCallback('V', (e) => errors.push(e));
    await flush();
    expect(errors.slice(1).map((e) => (e as Error).constructor)).toEqual([
      RtppClosedError,
      RtppClosedError,
    ]);
  });

  it('a timeout callback that destroys the client: every command still settles exactly once', () => {
    const h = harness({ timeoutMs: 2000 });
    const calls: [string, string][] = [];
    for (const name of ['a', 'b']) {
      h.client.sendRawCallback('V', (e) => {
        calls.push([name, (e as Error).constructor.name]);
        h.client.destroy();
      });
    }
    h.clock.advance(2000); // both give up at once; the first callback destroys the client
    expect(calls.map(([name]) => name).sort()).toEqual(['a', 'b']);
    expect(calls.map(([, error]) => error)).toEqual(['RtppTimeoutError', 'RtppClosedError']);
  });

  it('a command sent from a timeout callback does not delay a retransmit already due sooner', () => {
    const h = harness({ timeoutMs: 10_000 });
    // c_0 gives up at 1000, and its callback sends c_2 (first retransmit due at 2000)
    h.client.sendRawCallback('V', () => h.client.sendRawCallback('V', () => {}), {
      timeoutMs: 1000,
    });
    h.clock.advance(800);
    h.client.sendRawCallback('V', () => {}); // c_1: first retransmit due at 1800
    h.clock.advance(1000); // t = 1800
    expect(h.times('c_1')).toEqual([800, 1800]);
    expect(h.times('c_2')).toEqual([1000]);
  });

  it('a reply callback that throws is logged, and the client goes on', async () => {
    const logged: string[] = [];
    const h = harness({
      logger: {
        debug() {},
        info() {},
        warn() {},
        error: (_o: object, msg?: string) => logged.push(msg ?? ''),
      },
    });
    h.client.sendRawCallback('V', () => {
      throw new Error('boom');
    });
    h.reply('c_0 20040107\n');
    expect(logged).toEqual(['rtpp reply callback threw']);
    const p = h.client.sendRaw('V');
    h.reply('c_1 20040107\n');
    expect(await p).toBe('20040107');
  });

  it('probe(): V then every VF date, in table order', async () => {
    const h = harness();
    const p = h.client.probe();
    h.reply('c_0 20040107\n');
    await flush();
    const vfs = h.sent.slice(1).map((s) => s.text);
    expect(vfs[0]).toBe('c_1 VF 20040107');
    expect(vfs).toHaveLength(Object.keys(RTPP_CAPABILITIES).length);
    for (const s of h.sent.slice(1)) {
      const [cookie, , date] = s.text.split(' ');
      h.reply(`${cookie} ${date === '20050322' || date === '20040107' ? '1' : '0'}\n`);
    }
    const r = await p;
    expect(r.version).toBe('20040107');
    expect([...r.features].filter(([, v]) => v).map(([d]) => d)).toEqual(['20040107', '20050322']);
    expect([...r.features.keys()]).toEqual(Object.keys(RTPP_CAPABILITIES));
    expect(r.features.get('20081224')).toBe(false);
  });

  it('probe() refuses a server that answers V with anything but 20040107', async () => {
    const h = harness();
    const p = h.client.probe();
    h.reply('c_0 20050322\n');
    await expect(p).rejects.toThrow(/not an rtpproxy/);
    const e = harness();
    const q = e.client.probe();
    e.reply('c_0 E8\n');
    await expect(q).rejects.toBeInstanceOf(RtppProtocolError);
  });
});

describe('commandKindOf', () => {
  it.each([
    ['V', 'V'],
    ['VF 20050322', 'VF'],
    ['vf 1', 'VF'],
    ['Uc0 a b c d', 'U'],
    ['  l a', 'L'],
    ['Ib', 'I'],
    ['Z', undefined],
    ['', undefined],
  ])('%j → %s', (t, k) => expect(commandKindOf(t)).toBe(k));
});
