import { VirtualClock } from '@sipedge/core/testing';
import { parseCommand, type RtppReply, serializeReply } from '@sipedge/rtpp';
import { describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../media/memory.js';
import type { Notifier, NotifyDestination } from '../notify/notify.js';
import { MediaEngine, type MediaEngineOptions } from './engine.js';

class RecordingNotifier implements Notifier {
  readonly sent: { destination: NotifyDestination; line: string }[] = [];
  send(destination: NotifyDestination, line: string): void {
    this.sent.push({ destination, line });
  }
  close(): void {}
}

function setup(options: Partial<MediaEngineOptions> = {}) {
  const net = new MemoryNetwork();
  const clock = new VirtualClock(0);
  const notifier = new RecordingNotifier();
  const engine = new MediaEngine({
    transport: net,
    clock,
    notifier,
    ipv4: '127.0.0.1',
    portMin: 40000,
    portMax: 40099,
    ttl: 10,
    ...options,
  });
  engine.start();
  /** Sends a command text and answers the reply text (without the cookie). */
  const send = async (text: string, remoteAddress?: string): Promise<string> => {
    const parsed = parseCommand(text);
    if (!parsed.ok) return `E${parsed.error.code}\n`;
    const reply: RtppReply = await engine.handle(
      parsed.command,
      remoteAddress === undefined ? {} : { remoteAddress },
    );
    return serializeReply(reply);
  };
  /** A test endpoint on the memory network that records what it receives. */
  const endpoint = async (port: number, address = '127.0.0.1') => {
    const got: { data: string; from: number }[] = [];
    const sock = await net.bind(address, port, (d, p) => got.push({ data: d.toString(), from: p }));
    return {
      got,
      send: (to: number, data: string) => sock.send(Buffer.from(data), to, '127.0.0.1'),
    };
  };
  return { net, clock, engine, notifier, send, endpoint };
}

const portOf = (reply: string): number => Number(reply.split(' ')[0]);

describe('version and features', () => {
  it('answers V with the base version and VF only for implemented dates', async () => {
    const { send } = setup();
    expect(await send('V')).toBe('20040107\n');
    for (const d of [
      '20040107',
      '20050322',
      '20060704',
      '20080403',
      '20081102',
      '20141004',
      '20150330',
    ]) {
      expect(await send(`VF ${d}`)).toBe('1\n');
    }
    for (const d of [
      '20071116',
      '20071218',
      '20081224',
      '20150617',
      '20191015',
      '20170313',
      '20990101',
    ]) {
      expect(await send(`VF ${d}`)).toBe('0\n');
    }
  });

  it('claims notifications (20081224, 20150617) only with a -n socket', async () => {
    const { send } = setup({ notifySockets: ['unix:/tmp/n.sock'] });
    expect(await send('VF 20081224')).toBe('1\n');
    expect(await send('VF 20150617')).toBe('1\n');
  });
});

describe('U and L', () => {
  it('allocates an even RTP port with RTCP above it for each leg, and answers port and address', async () => {
    const { send, net } = setup();
    const u = await send('Uc0 call1 127.0.0.1 6004 ft;1');
    expect(u).toMatch(/^\d+ 127\.0\.0\.1\n$/);
    const l = await send('Lc0 call1 127.0.0.1 6000 ft;1 tt;1');
    expect(l).toMatch(/^\d+ 127\.0\.0\.1\n$/);
    const pu = portOf(u);
    const pl = portOf(l);
    expect(pu % 2).toBe(0);
    expect(pl % 2).toBe(0);
    expect(pu).not.toBe(pl);
    for (const p of [pu, pu + 1, pl, pl + 1]) {
      expect(p).toBeGreaterThanOrEqual(40000);
      expect(p).toBeLessThanOrEqual(40099);
      expect(net.isBound('127.0.0.1', p)).toBe(true);
    }
  });

  it('repeats the same port for a repeated U or L', async () => {
    const { send } = setup();
    const u = await send('U c 127.0.0.1 6004 a;1');
    expect(await send('U c 127.0.0.1 6004 a;1')).toBe(u);
    const l = await send('L c 127.0.0.1 6000 a;1 b;1');
    expect(await send('L c 127.0.0.1 6000 a;1 b;1')).toBe(l);
  });

  it('answers 0 to L for an unknown session and creates nothing', async () => {
    const { send, engine } = setup();
    expect(await send('L nosuch 127.0.0.1 5000 a b')).toBe('0\n');
    expect(engine.sessionCount).toBe(0);
  });

  it('creates a session on U even when a to-tag is given', async () => {
    const { send, engine } = setup();
    expect(await send('U c2 127.0.0.1 5000 x;1 y;1')).toMatch(/^\d+ 127\.0\.0\.1\n$/);
    expect(engine.sessionCount).toBe(1);
    expect(engine.sessions()[0]?.toTag).toBe('y;1');
  });

  it('keeps one session per media number', async () => {
    const { send, engine } = setup();
    const a = await send('U c 127.0.0.1 5000 f;1');
    const b = await send('U c 127.0.0.1 5002 f;2');
    expect(a).not.toBe(b);
    expect(engine.sessionCount).toBe(2);
  });

  it('answers IPv6 replies with the 6 flag when -6 is configured', async () => {
    const { send } = setup({ ipv6: '::1' });
    expect(await send('U6 c ::1 5000 f')).toMatch(/^\d+ ::1 6\n$/);
  });

  it('answers the port alone when the media address is a wildcard', async () => {
    const { send } = setup({ ipv4: '0.0.0.0' });
    expect(await send('U c 127.0.0.1 5000 f')).toMatch(/^\d+\n$/);
  });

  it('answers the advertised address when one is set', async () => {
    const { send } = setup({ advertisedIpv4: '203.0.113.5' });
    expect(await send('U c 127.0.0.1 5000 f')).toMatch(/^\d+ 203\.0\.113\.5\n$/);
  });

  it('gives a new port with n and frees the old one', async () => {
    const { send, net } = setup();
    const u = portOf(await send('U c 127.0.0.1 5000 f'));
    const n = portOf(await send('Un c 127.0.0.1 5000 f'));
    expect(n).not.toBe(u);
    expect(net.isBound('127.0.0.1', u)).toBe(false);
    expect(net.isBound('127.0.0.1', n)).toBe(true);
  });

  it('rejects what it cannot do with rtpproxy error codes', async () => {
    const { send } = setup();
    expect(await send('Ux c 127.0.0.1 5000 f')).toBe('E35\n'); // unknown modifier
    expect(await send('UE c 127.0.0.1 5000 f')).toBe('E11\n'); // no bridge mode
    expect(await send('UI c 127.0.0.1 5000 f')).toBe('E12\n');
    expect(await send('U6 c ::1 5000 f')).toBe('E36\n'); // no IPv6 address configured
    expect(await send('U c 127.0.0.256 5000 f')).toBe('E37\n'); // bad remote address
    expect(await send('U c 127.0.0.1 99999 f')).toBe('E37\n');
    expect(await send('Ul10.9.9.9 c 127.0.0.1 5000 f')).toBe('E31\n'); // not our address
    expect(await send('U c 127.0.0.1 5000 f /tmp/x.sock tag')).toBe('E75\n'); // notify without -n
    expect(await send('U c 127.0.0.1 5000 f && D')).toBe('E3\n');
  });

  it('ignores an implausible remote address instead of failing', async () => {
    const { send } = setup();
    expect(await send('U c x 5000 f')).toMatch(/^\d+ 127\.0\.0\.1\n$/);
  });
});

describe('port allocation', () => {
  it('answers E72 when the range is exhausted and reuses freed pairs', async () => {
    // 4 pairs = 2 sessions, no per-source cap: the range itself runs out
    const { send } = setup({ portMin: 40000, portMax: 40007, maxSessionsPerSource: 0 });
    const a = portOf(await send('U c1 127.0.0.1 5000 f'));
    await send('U c2 127.0.0.1 5000 f');
    expect(await send('U c3 127.0.0.1 5000 f')).toBe('E72\n');
    expect(await send('D c1 f')).toBe('0\n');
    const c = portOf(await send('U c3 127.0.0.1 5000 f'));
    expect([40000, 40002, 40004, 40006]).toContain(c);
    expect([40000, 40002, 40004, 40006]).toContain(a);
  });

  it('skips ports another program holds', async () => {
    const { send, net } = setup({ portMin: 40000, portMax: 40007 });
    net.taken.add(40001);
    const p = portOf(await send('U c 127.0.0.1 5000 f'));
    expect(p).toBe(40004); // the U reply is leg 1; leg 0 took 40002
  });

  it('answers E71 when n finds no free pair for an existing session', async () => {
    const { send } = setup({ portMin: 40000, portMax: 40003 });
    await send('U c 127.0.0.1 5000 f');
    expect(await send('Un c 127.0.0.1 5000 f')).toBe('E71\n');
  });
});

describe('relaying', () => {
  it('relays RTP both ways and latches each leg to its first source', async () => {
    const { send, endpoint, engine } = setup();
    const caller = await endpoint(6004);
    const callee = await endpoint(6000);
    const toCallee = portOf(await send('U c 127.0.0.1 6004 ft;1')); // port given to the callee
    const toCaller = portOf(await send('L c 127.0.0.1 6000 ft;1 tt;1'));
    caller.send(toCaller, 'from-caller');
    expect(callee.got).toEqual([{ data: 'from-caller', from: toCallee }]);
    callee.send(toCallee, 'from-callee');
    expect(caller.got).toEqual([{ data: 'from-callee', from: toCaller }]);
    expect(await send('Q c ft;1 tt;1')).toBe('10 1 1 2 0\n');
    expect(engine.sessions()[0]?.legs.map((l) => l.latched)).toEqual([true, true]);
  });

  it('latches to the real source when it differs from the SDP address (NAT)', async () => {
    const { send, endpoint } = setup();
    const natted = await endpoint(7777); // the caller really sends from 7777, SDP said 6004
    const callee = await endpoint(6000);
    const toCallee = portOf(await send('U c 127.0.0.1 6004 f'));
    const toCaller = portOf(await send('L c 127.0.0.1 6000 f t'));
    callee.send(toCallee, 'early'); // before the caller sent anything: goes to the SDP address
    expect(natted.got).toEqual([]);
    natted.send(toCaller, 'hello');
    expect(callee.got.map((g) => g.data)).toEqual(['hello']);
    callee.send(toCallee, 'back');
    expect(natted.got.map((g) => g.data)).toEqual(['back']);
  });

  it('drops packets from a second source once latched', async () => {
    const { send, endpoint } = setup();
    const caller = await endpoint(6004);
    const intruder = await endpoint(6666);
    const callee = await endpoint(6000);
    await send('U c 127.0.0.1 6004 f');
    const toCaller = portOf(await send('L c 127.0.0.1 6000 f t'));
    caller.send(toCaller, 'a');
    intruder.send(toCaller, 'x');
    expect(callee.got.map((g) => g.data)).toEqual(['a']);
    expect(await send('Qv c f t')).toBe('ttl=10 npkts_ina=2 npkts_ino=0 nrelayed=1 ndropped=1\n');
  });

  it('in asymmetric mode sends to the given address whatever the source', async () => {
    const { send, endpoint } = setup();
    const given = await endpoint(6004);
    const other = await endpoint(7777);
    const callee = await endpoint(6000);
    const toCallee = portOf(await send('UA c 127.0.0.1 6004 f'));
    const toCaller = portOf(await send('L c 127.0.0.1 6000 f t'));
    other.send(toCaller, 'from-7777');
    expect(callee.got.map((g) => g.data)).toEqual(['from-7777']);
    callee.send(toCallee, 'reply');
    expect(given.got.map((g) => g.data)).toEqual(['reply']);
    expect(other.got).toEqual([]);
  });

  it('relays RTCP between the odd ports, to the given port + 1 before latching', async () => {
    const { send, endpoint } = setup();
    const callerRtcp = await endpoint(6005);
    const calleeRtcp = await endpoint(6001);
    const toCallee = portOf(await send('U c 127.0.0.1 6004 f'));
    const toCaller = portOf(await send('L c 127.0.0.1 6000 f t'));
    callerRtcp.send(toCaller + 1, 'rtcp-a');
    expect(calleeRtcp.got).toEqual([{ data: 'rtcp-a', from: toCallee + 1 }]);
    calleeRtcp.send(toCallee + 1, 'rtcp-b');
    expect(callerRtcp.got).toEqual([{ data: 'rtcp-b', from: toCaller + 1 }]);
  });

  it('drops what arrives before the other leg has an address, and on hold', async () => {
    const { send, endpoint } = setup();
    const caller = await endpoint(6004);
    await send('U c 127.0.0.1 6004 f');
    const toCaller = portOf(await send('L c 0.0.0.0 6000 f t')); // callee on hold
    caller.send(toCaller, 'a');
    expect(await send('Q c f t')).toBe('10 1 0 0 1\n');
  });

  it('stops relaying and closes the sockets after D', async () => {
    const { send, endpoint, net } = setup();
    const caller = await endpoint(6004);
    const callee = await endpoint(6000);
    await send('U c 127.0.0.1 6004 f');
    const toCaller = portOf(await send('L c 127.0.0.1 6000 f t'));
    expect(await send('D c f t')).toBe('0\n');
    caller.send(toCaller, 'late');
    expect(callee.got).toEqual([]);
    expect(net.isBound('127.0.0.1', toCaller)).toBe(false);
    expect(net.boundCount).toBe(2); // only the two test endpoints
  });

  it('drops oversize packets and counts them', async () => {
    const { send, endpoint } = setup({ maxPacket: 10 });
    const caller = await endpoint(6004);
    const callee = await endpoint(6000);
    await send('U c 127.0.0.1 6004 f');
    const toCaller = portOf(await send('L c 127.0.0.1 6000 f t'));
    caller.send(toCaller, 'x'.repeat(11));
    expect(callee.got).toEqual([]);
    expect(await send('G npkts_rcvd npkts_discard npkts_relayed')).toBe('1 1 0\n');
  });
});

describe('D', () => {
  it('with plain tags deletes every media number of the call', async () => {
    const { send, engine } = setup();
    await send('U c 127.0.0.1 5000 f;1');
    await send('U c 127.0.0.1 5002 f;2');
    await send('U other 127.0.0.1 5004 f;1');
    expect(await send('D c f t')).toBe('0\n');
    expect(engine.sessions().map((s) => s.callId)).toEqual(['other']);
    expect(await send('D c f t')).toBe('E50\n');
  });

  it('matches the to-tag against the session from-tag (a BYE from the callee)', async () => {
    const { send, engine } = setup();
    await send('U c 127.0.0.1 5000 f;1');
    await send('L c 127.0.0.1 5002 f;1 t;1');
    expect(await send('D c t f')).toBe('0\n');
    expect(engine.sessionCount).toBe(0);
  });

  it('with a media number deletes only that stream', async () => {
    const { send, engine } = setup();
    await send('U c 127.0.0.1 5000 f;1');
    await send('U c 127.0.0.1 5002 f;2');
    expect(await send('D c f;2')).toBe('0\n');
    expect(engine.sessions().map((s) => s.fromTag)).toEqual(['f;1']);
  });

  it('keeps a weak session until Dw clears its weak flag', async () => {
    const { send, engine } = setup();
    await send('Uw c 127.0.0.1 5000 f');
    expect(await send('D c f')).toBe('0\n'); // no strong flag to clear; weak still set
    expect(engine.sessionCount).toBe(1);
    expect(await send('Dw c f')).toBe('0\n');
    expect(engine.sessionCount).toBe(0);
  });

  it('answers E50 for an unknown call', async () => {
    const { send } = setup();
    expect(await send('D nosuch a b')).toBe('E50\n');
  });
});

describe('Q', () => {
  it('answers named counters in the order asked, with v names', async () => {
    const { send } = setup();
    await send('U c 127.0.0.1 5000 f;1');
    await send('L c 127.0.0.1 5002 f;1 t;1');
    expect(await send('Q c f;1 t;1 nrelayed ttl')).toBe('0 10\n');
    expect(await send('Qv c f;1 t;1 ndropped')).toBe('ndropped=0\n');
    expect(await send('Q c f;1 t;1 rtpa_nlost')).toBe('E62\n');
    expect(await send('Q c f;1 t;1 && D')).toBe('E3\n');
    expect(await send('Q nosuch f;1 t;1')).toBe('E50\n');
  });

  it('counts the ttl down and resets it on traffic', async () => {
    const { send, clock, endpoint } = setup();
    const caller = await endpoint(5000);
    await send('U c 127.0.0.1 5000 f');
    const toCaller = portOf(await send('L c 127.0.0.1 5002 f t'));
    clock.advance(4000);
    expect(await send('Q c f t ttl')).toBe('6\n');
    caller.send(toCaller, 'x');
    clock.advance(1000); // the sweep folds the packet into the TTL
    expect(await send('Q c f t ttl')).toBe('10\n');
  });
});

describe('I, G, X', () => {
  it('answers I with the five rtpproxy lines', async () => {
    const { send, endpoint } = setup();
    const caller = await endpoint(5000);
    await endpoint(5002);
    await send('U c 127.0.0.1 5000 f');
    const toCaller = portOf(await send('L c 127.0.0.1 5002 f t'));
    caller.send(toCaller, 'x');
    expect(await send('I')).toBe(
      'sessions created: 1\nactive sessions: 1\nactive streams: 2\npackets received: 1\npackets transmitted: 1\n',
    );
    expect(await send('Ib')).toMatch(/^sessions created: 1\n/);
    expect(await send('Il')).toMatch(/average load: 0\.000000\n$/);
  });

  it('answers G for the counters it keeps, E68 for others, and an empty line for none', async () => {
    const { send, clock } = setup();
    await send('U c 127.0.0.1 5000 f');
    clock.advance(2500);
    await send('D c f');
    expect(await send('Gv nsess_created nsess_destroyed nsess_nortp total_duration')).toBe(
      'nsess_created=1 nsess_destroyed=1 nsess_nortp=1 total_duration=2.500000\n',
    );
    expect(await send('G ncmds_rcvd ncmds_succd ncmds_errs')).toBe('4 3 0\n');
    expect(await send('G pps_in')).toBe('E68\n');
    expect(await send('G')).toBe('\n');
  });

  it('X deletes every session of its sender', async () => {
    const { send, engine, net } = setup();
    await send('U c1 127.0.0.1 5000 f');
    await send('U c2 127.0.0.1 5000 f');
    expect(await send('X')).toBe('0\n');
    expect(engine.sessionCount).toBe(0);
    expect(net.boundCount).toBe(0);
  });

  it('X from one source leaves the sessions of the others (a relay serves several proxies)', async () => {
    const { send, engine } = setup();
    await send('U a1 127.0.0.1 5000 f', '10.0.0.1');
    await send('U a2 127.0.0.1 5000 f', '::ffff:10.0.0.1');
    await send('U b1 127.0.0.1 5000 f', '10.0.0.2');
    await send('U l1 127.0.0.1 5000 f');
    expect(await send('X', '10.0.0.2')).toBe('0\n');
    expect(engine.sessions().map((s) => s.callId)).toEqual(['a1', 'a2', 'l1']);
    expect(await send('X', '10.0.0.1')).toBe('0\n');
    expect(engine.sessions().map((s) => s.callId)).toEqual(['l1']);
  });

  it('answers the commands it does not implement without pretending', async () => {
    const { send } = setup();
    await send('U c 127.0.0.1 5000 f;1');
    expect(await send('P1 c prompt session f;1')).toBe('E60\n');
    expect(await send('S c f;1')).toBe('0\n');
    expect(await send('R c f')).toBe('E50\n');
    expect(await send('C c udp:127.0.0.1:9 f;1')).toBe('E65\n');
    expect(await send('S nosuch f')).toBe('E50\n');
  });
});

describe('timeouts and notification', () => {
  it('destroys an idle session after -T seconds and sends the notify tag', async () => {
    const { send, clock, engine, notifier } = setup({ notifySockets: ['unix:/run/k.sock'] });
    await send('U c 127.0.0.1 5000 f unix:/run/k.sock my%20tag');
    clock.advance(9000);
    expect(engine.sessionCount).toBe(1);
    clock.advance(1000);
    expect(engine.sessionCount).toBe(0);
    expect(notifier.sent).toEqual([
      { destination: { kind: 'unix', path: '/run/k.sock' }, line: 'my tag\n' },
    ]);
    expect(engine.stat('nsess_timeout')).toBe(1);
  });

  it('keeps a session with traffic alive', async () => {
    const { send, clock, engine, endpoint } = setup();
    const caller = await endpoint(5000);
    await send('U c 127.0.0.1 5000 f');
    const toCaller = portOf(await send('L c 127.0.0.1 5002 f t'));
    for (let i = 0; i < 30; i++) {
      caller.send(toCaller, 'x');
      clock.advance(1000);
    }
    expect(engine.sessionCount).toBe(1);
    clock.advance(10_000);
    expect(engine.sessionCount).toBe(0);
  });

  it('resolves %%CC_SELF%% to the command sender and matches a bare path to unix:', async () => {
    const { send, clock, notifier } = setup({
      notifySockets: ['tcp:%%CC_SELF%%:9999', 'unix:/run/k.sock'],
    });
    await send('U c1 127.0.0.1 5000 f tcp:%%CC_SELF%%:9999 t1', '127.0.0.7');
    await send('U c2 127.0.0.1 5000 f /run/k.sock t2', '127.0.0.7');
    clock.advance(10_000);
    expect(notifier.sent).toEqual(
      expect.arrayContaining([
        { destination: { kind: 'tcp', host: '127.0.0.7', port: 9999 }, line: 't1\n' },
        { destination: { kind: 'unix', path: '/run/k.sock' }, line: 't2\n' },
      ]),
    );
  });

  it('ignores a notify socket not on the list and sends nothing for D', async () => {
    const { send, clock, notifier } = setup({ notifySockets: ['unix:/run/k.sock'] });
    expect(await send('U c 127.0.0.1 5000 f unix:/elsewhere t')).toMatch(/^\d+ /);
    await send('U c2 127.0.0.1 5000 f unix:/run/k.sock t2');
    await send('D c2 f');
    clock.advance(10_000);
    expect(notifier.sent).toEqual([]);
  });

  it('drops the notify target when a later U has no notify args', async () => {
    const { send, clock, notifier } = setup({ notifySockets: ['unix:/run/k.sock'] });
    await send('U c 127.0.0.1 5000 f unix:/run/k.sock t');
    await send('U c 127.0.0.1 5000 f');
    clock.advance(10_000);
    expect(notifier.sent).toEqual([]);
  });
});

describe('lifecycle', () => {
  it('stop() closes every socket and later commands answer E99', async () => {
    const { send, engine, net } = setup();
    await send('U c 127.0.0.1 5000 f');
    await engine.stop();
    expect(net.boundCount).toBe(0);
    expect(await send('V')).toBe('E99\n');
  });
});

describe('sessions per source', () => {
  it('300 U from one sender leave port pairs for the others (E72 over the cap, counted)', async () => {
    const { send, engine } = setup({ maxSessionsPerSource: 20 }); // the range holds 25
    const replies: string[] = [];
    for (let i = 0; i < 300; i++)
      replies.push(await send(`U flood${i} 127.0.0.1 5000 f`, '10.0.0.9'));
    expect(replies.filter((r) => r === 'E72\n')).toHaveLength(280);
    expect(engine.sessionsOf('10.0.0.9')).toBe(20);
    expect(portOf(await send('U real 127.0.0.1 5000 f', '10.0.0.1'))).toBeGreaterThan(0);
    expect(await send('Gv nsess_source_limited nsess_created')).toBe(
      'nsess_source_limited=280 nsess_created=21\n',
    );
  });

  it('a session ended by D, X or its TTL frees its slot; updates never count', async () => {
    const { send, engine, clock } = setup({ maxSessionsPerSource: 2 });
    await send('U a 127.0.0.1 5000 f', '10.0.0.1');
    await send('U b 127.0.0.1 5000 f', '10.0.0.1');
    expect(await send('U a 127.0.0.1 5002 f', '10.0.0.1')).not.toBe('E72\n');
    expect(await send('L a 127.0.0.1 5004 f t', '10.0.0.1')).not.toBe('E72\n');
    expect(await send('U c 127.0.0.1 5000 f', '10.0.0.1')).toBe('E72\n');
    await send('D a f', '10.0.0.1');
    expect(await send('U c 127.0.0.1 5000 f', '10.0.0.1')).not.toBe('E72\n');
    clock.advance(11_000);
    expect(engine.sessionsOf('10.0.0.1')).toBe(0);
  });

  it('the default cap is 90% of what the port range holds', () => {
    const { engine } = setup(); // 50 pairs = 25 sessions
    expect(engine.maxSessionsPerSource).toBe(22);
  });
});
