/**
 * The SIP flows of one node in-process, over its real UDP transport on loopback, with a real
 * in-process rtp-relay behind the embedded balancer: register, re-register, unregister with
 * `*`, a call (INVITE → 180 → 200 → ACK → BYE) with its SDP anchored on the relay, CANCEL,
 * parallel forking to two bindings, and the rejections (unknown user, Max-Forwards 0).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiClient } from '@sipedge/mi';
import type { Relay } from '@sipedge/rtp-relay';
import { SdpEditor, type SipMessage } from '@sipedge/sip';
import { until } from '@sipedge/test-utils';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../src/config.js';
import { type ClusterNode, startNode } from '../src/node.js';
import { loopbackRelay } from './relay.js';
import { answer, sdp, TestUa } from './ua.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'cluster-node-flows-'));

let relay: Relay;
let node: ClusterNode;
let sipPort: number;
let tcpPort: number;
let mi: MiClient;
const uas: TestUa[] = [];

async function ua(user: string): Promise<TestUa> {
  const u = await new TestUa(user).bind();
  uas.push(u);
  return u;
}

beforeAll(async () => {
  relay = await loopbackRelay(41000);
  node = await startNode(
    parseNodeConfig({
      node: { id: 1 },
      sip: {
        listeners: [
          { proto: 'udp', address: '127.0.0.1:0' },
          { proto: 'tcp', address: '127.0.0.1:0' },
        ],
        nat_ping: { enabled: false },
        fr_inv_timeout: 30,
      },
      usrloc: { min_expires: 10 },
      mi: { port: 0 },
      metrics: { enabled: false },
      clusterer: { listen: 'bin:127.0.0.1:0', seed: true, seed_fallback_interval: 0 },
      rtp: { relays: [{ name: 'relay1', socket: relay.control[0] }], heartbeat_interval: 200 },
      storage: { file: join(dir, 'node.sqlite') },
      logging: { level: 'silent', format: 'json' },
    }),
    { logger },
  );
  sipPort = node.sipListeners[0]!.port;
  tcpPort = node.sipListeners[1]!.port;
  mi = new MiClient({ url: node.miUrl });
  await until(() => node.balancer?.clusters[0]?.members[0]?.state === 'online', {
    what: 'the relay online',
  });
});

afterAll(async () => {
  for (const u of uas) u.close();
  mi?.close();
  await node?.stop();
  await relay?.stop();
});

let cseq = 100;

function register(u: TestUa, opts: { contact?: string; expires?: number; callId?: string } = {}) {
  const contact = opts.contact ?? `<${u.contact}>`;
  u.send(
    [
      `REGISTER sip:127.0.0.1:${sipPort} SIP/2.0`,
      u.via(),
      'Max-Forwards: 70',
      `From: <sip:${u.user}@example.com>;tag=r${u.user}`,
      `To: <sip:${u.user}@example.com>`,
      `Call-ID: ${opts.callId ?? `reg-${u.user}-${u.port}`}`,
      `CSeq: ${++cseq} REGISTER`,
      `Contact: ${contact}`,
      ...(opts.expires === undefined ? [] : [`Expires: ${opts.expires}`]),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    sipPort,
  );
}

function invite(
  from: TestUa,
  to: string,
  callId: string,
  opts: { branch?: string; maxForwards?: number } = {},
): string {
  const body = sdp(from.port + 1000);
  const text = [
    `INVITE sip:${to}@example.com SIP/2.0`,
    from.via(opts.branch),
    `Max-Forwards: ${opts.maxForwards ?? 70}`,
    `From: <sip:${from.user}@example.com>;tag=f${from.user}`,
    `To: <sip:${to}@example.com>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <${from.contact}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
  from.send(text, sipPort);
  return text;
}

/** An in-dialog request from the caller along the route set learnt from the 2xx. */
function inDialog(from: TestUa, ok: SipMessage, method: string, seqNo: number, branch?: string) {
  const routes = ok
    .values('record-route')
    .reverse()
    .map((r) => `Route: ${r}`);
  const contact = ok.contacts()[0]?.uri ?? '';
  from.send(
    [
      `${method} ${contact} SIP/2.0`,
      from.via(branch),
      'Max-Forwards: 70',
      ...routes,
      `From: ${ok.header('from')}`,
      `To: ${ok.header('to')}`,
      `Call-ID: ${ok.callId()}`,
      `CSeq: ${seqNo} ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    sipPort,
  );
}

async function contactsOf(aor: string): Promise<Array<Record<string, unknown>>> {
  try {
    const r = (await mi.call('ul_show_contact', ['location', aor])) as {
      Contacts: Array<Record<string, unknown>>;
    };
    return r.Contacts;
  } catch {
    return [];
  }
}

describe('registrar', () => {
  it('REGISTER is saved with this node as Path, re-REGISTER refreshes, * removes', async () => {
    const alice = await ua('alice');
    register(alice, { expires: 600 });
    const ok = await alice.response(200, 'REGISTER');
    expect(ok.contacts()).toHaveLength(1);
    expect(ok.contacts()[0]?.expires).toBe(600);
    expect(ok.values('path')).toEqual([]); // our own Path is not shown to the UA
    let bindings = await contactsOf('alice@example.com');
    expect(bindings).toHaveLength(1);
    // not behind NAT (Contact and Via name the source): the Path hop has no received
    expect(bindings[0]?.Path).toBe(`<sip:127.0.0.1:${sipPort};lr;pt>`);
    expect(String(bindings[0]?.Received)).toBe(`sip:127.0.0.1:${alice.port}`);

    register(alice, { expires: 300 });
    const again = await alice.response(200, 'REGISTER');
    expect(again.contacts()[0]?.expires).toBe(300);
    expect(await contactsOf('alice@example.com')).toHaveLength(1);

    register(alice, { contact: '*', expires: 0 });
    await alice.response(200, 'REGISTER');
    bindings = await contactsOf('alice@example.com');
    expect(bindings).toEqual([]);
  });

  it('a UA behind NAT (private Contact): Path carries its source, calls reach the NAT binding', async () => {
    const nat = await ua('nat');
    register(nat, { contact: '<sip:nat@10.1.2.3:5060>', expires: 600 });
    const ok = await nat.response(200, 'REGISTER');
    expect(ok.contacts()[0]?.uri).toBe('sip:nat@10.1.2.3:5060');
    const [b] = await contactsOf('nat@example.com');
    const received = encodeURIComponent(`sip:127.0.0.1:${nat.port}`);
    expect(b?.Path).toBe(`<sip:127.0.0.1:${sipPort};lr;pt;received=${received}>`);
    expect(b?.Flags).toBe(2); // FLAG_NAT: the pinger keeps it open
    const ivy = await ua('ivy');
    // a caller behind NAT too: its private Contact is rewritten to where it is reachable
    const body = sdp(ivy.port + 1000);
    ivy.send(
      [
        'INVITE sip:nat@example.com SIP/2.0',
        ivy.via(),
        'Max-Forwards: 70',
        'From: <sip:ivy@example.com>;tag=fivy',
        'To: <sip:nat@example.com>',
        'Call-ID: call-nat@test',
        'CSeq: 1 INVITE',
        'Contact: <sip:ivy@192.168.7.7:5060;transport=udp>',
        'Content-Type: application/sdp',
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n'),
      sipPort,
    );
    const inv = await nat.request('INVITE'); // to the source address, not to 10.1.2.3
    expect(inv.requestUri).toBe('sip:nat@10.1.2.3:5060');
    expect(inv.values('route')).toEqual([]);
    expect(inv.contacts()[0]?.uri).toBe(`sip:ivy@127.0.0.1:${ivy.port};transport=udp`);
    nat.send(answer(inv, 486, 'Busy Here', { toTag: 'tn' }), sipPort);
    await ivy.response(486, 'INVITE');
  });

  it('REGISTERs are answered statelessly: a retransmission gets its 200 again, no transaction is kept', async () => {
    const rex = await ua('rex');
    const before = node.sip.layer.serverCount;
    register(rex, { expires: 600, callId: 'rex-1' });
    await rex.response(200, 'REGISTER');
    cseq--; // the same REGISTER again (same Call-ID and CSeq): a retransmission
    register(rex, { expires: 600, callId: 'rex-1' });
    const again = await rex.response(200, 'REGISTER');
    expect(again.contacts()).toHaveLength(1);
    expect(node.sip.layer.serverCount).toBe(before);
    expect(await contactsOf('rex@example.com')).toHaveLength(1);
  });

  it('a UA on TCP: Path names its connection, a call from a UDP caller comes down that connection', async () => {
    const tina = await new TestUa('tina').bind();
    uas.push(tina);
    await tina.connectTcp(tcpPort);
    register(tina, { expires: 600 });
    await tina.response(200, 'REGISTER');
    const [b] = await contactsOf('tina@example.com');
    expect(String(b?.Path)).toMatch(
      /;pt;received=sip%3A127\.0\.0\.1%3A\d+%3Btransport%3Dtcp;flow=/,
    );
    const ugo = await ua('ugo');
    invite(ugo, 'tina', 'call-tcp@test');
    const inv = await tina.request('INVITE');
    expect(inv.topVia()?.transport).toBe('TCP');
    tina.send(answer(inv, 603, 'Decline', { toTag: 'tt' }), tcpPort);
    await ugo.response(603, 'INVITE');
  });

  it('a broken REGISTER gets its error statelessly: CSeq method, Max-Forwards 0, Request-URI scheme', async () => {
    const bad = await ua('bad');
    const req = (first: string, cseqLine: string, mf = 70) =>
      [
        first,
        bad.via(),
        `Max-Forwards: ${mf}`,
        'From: <sip:bad@example.com>;tag=b',
        'To: <sip:bad@example.com>',
        `Call-ID: bad-${++cseq}`,
        cseqLine,
        `Contact: <${bad.contact}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
    bad.send(req(`REGISTER sip:127.0.0.1:${sipPort} SIP/2.0`, 'CSeq: 1 INVITE'), sipPort);
    expect((await bad.response(400, 'INVITE')).reason).toBe('Bad Request (cseq-method)');
    bad.send(req(`REGISTER sip:127.0.0.1:${sipPort} SIP/2.0`, 'CSeq: 2 REGISTER', 0), sipPort);
    await bad.response(483, 'REGISTER');
    bad.send(req('REGISTER tel:+123 SIP/2.0', 'CSeq: 3 REGISTER'), sipPort);
    await bad.response(416, 'REGISTER');
    expect(await contactsOf('bad@example.com')).toEqual([]);
  });

  it('too short an expiry is 423 with Min-Expires; a garbage Contact is 400', async () => {
    const carol = await ua('carol');
    register(carol, { expires: 5 });
    const r = await carol.response(423, 'REGISTER');
    expect(r.header('min-expires')).toBe('10');
    register(carol, { contact: '<not a uri' });
    await carol.response(400, 'REGISTER');
  });
});

describe('calls', () => {
  it('a call to a registered user: forwarded with Record-Route, SDP anchored on the relay both ways, ACK and BYE follow the route set', async () => {
    const bob = await ua('bob');
    const amy = await ua('amy');
    register(bob, { expires: 600 });
    await bob.response(200, 'REGISTER');

    invite(amy, 'bob', 'call-1@test');
    await amy.response(100, 'INVITE');
    const inv = await bob.request('INVITE');
    expect(inv.requestUri).toBe(bob.contact);
    expect(inv.values('record-route')[0]).toMatch(
      new RegExp(`^<sip:127\\.0\\.0\\.1:${sipPort};lr;ma>$`),
    );
    const offer = new SdpEditor(inv.body).media()[0];
    expect(offer?.port).toBeGreaterThanOrEqual(41000);
    expect(offer?.port).toBeLessThanOrEqual(41999);
    expect(offer?.port).not.toBe(amy.port + 1000);
    expect(node.balancer?.clusters[0]?.callTable.lookup('call-1@test')).toBe('relay1');

    bob.send(answer(inv, 180, 'Ringing', { toTag: 'tb' }), sipPort);
    await amy.response(180, 'INVITE');
    bob.send(
      answer(inv, 200, 'OK', { toTag: 'tb', contact: bob.contact, body: sdp(bob.port + 1000) }),
      sipPort,
    );
    const ok = await amy.response(200, 'INVITE');
    const ans = new SdpEditor(ok.body).media()[0];
    expect(ans?.port).toBeGreaterThanOrEqual(41000);
    expect(ans?.port).not.toBe(bob.port + 1000);
    expect(ans?.port).not.toBe(offer?.port);
    expect(ok.values('record-route')).toHaveLength(1);

    inDialog(amy, ok, 'ACK', 1);
    const ack = await bob.request('ACK');
    expect(ack.requestUri).toBe(bob.contact);
    expect(ack.values('route')).toEqual([]);

    expect(relay.engine.sessionCount).toBe(1);
    inDialog(amy, ok, 'BYE', 2);
    const bye = await bob.request('BYE');
    bob.send(answer(bye, 200, 'OK'), sipPort);
    await amy.response(200, 'BYE');
    // the BYE deleted the call's session on the relay
    expect(relay.engine.sessionCount).toBe(0);
  });

  it('CANCEL: answered 200, the callee gets CANCEL, the caller gets the 487', async () => {
    const dan = await ua('dan');
    const eve = await ua('eve');
    register(dan, { expires: 600 });
    await dan.response(200, 'REGISTER');
    const branch = eve.branch();
    invite(eve, 'dan', 'call-2@test', { branch });
    const inv = await dan.request('INVITE');
    dan.send(answer(inv, 180, 'Ringing', { toTag: 'td' }), sipPort);
    await eve.response(180, 'INVITE');
    // CANCEL carries the INVITE's branch
    eve.send(
      [
        `CANCEL sip:dan@example.com SIP/2.0`,
        eve.via(branch),
        'Max-Forwards: 70',
        `From: <sip:eve@example.com>;tag=feve`,
        `To: <sip:dan@example.com>`,
        'Call-ID: call-2@test',
        'CSeq: 1 CANCEL',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      sipPort,
    );
    await eve.response(200, 'CANCEL');
    const cancel = await dan.request('CANCEL');
    dan.send(answer(cancel, 200, 'OK'), sipPort);
    dan.send(answer(inv, 487, 'Request Terminated', { toTag: 'td' }), sipPort);
    await eve.response(487, 'INVITE');
    // the node ACKs the callee's 487 (hop by hop)
    await dan.request('ACK');
  });

  it('forks in parallel to every binding; the 200 of one cancels the other', async () => {
    const f1 = await ua('fay');
    const f2 = await ua('fay');
    const gus = await ua('gus');
    register(f1, { expires: 600 });
    await f1.response(200, 'REGISTER');
    register(f2, { expires: 600 });
    await f2.response(200, 'REGISTER');
    expect(await contactsOf('fay@example.com')).toHaveLength(2);
    invite(gus, 'fay', 'call-3@test');
    const i1 = await f1.request('INVITE');
    const i2 = await f2.request('INVITE');
    f2.send(answer(i2, 180, 'Ringing', { toTag: 't2' }), sipPort);
    f1.send(
      answer(i1, 200, 'OK', { toTag: 't1', contact: f1.contact, body: sdp(f1.port + 1000) }),
      sipPort,
    );
    const ok = await gus.response(200, 'INVITE');
    expect(ok.toTag()).toBe('t1');
    const cancel = await f2.request('CANCEL');
    f2.send(answer(cancel, 200, 'OK'), sipPort);
    f2.send(answer(i2, 487, 'Request Terminated', { toTag: 't2' }), sipPort);
    await f2.request('ACK');
    await gus.none('487 upstream', (m) => !m.isRequest && m.status === 487, 300);
  });

  it('an unknown user is 404; Max-Forwards 0 is 483', async () => {
    const hal = await ua('hal');
    invite(hal, 'nobody', 'call-4@test');
    await hal.response(404, 'INVITE');
    invite(hal, 'bob', 'call-5@test', { maxForwards: 0 });
    await hal.response(483, 'INVITE');
  });
});
