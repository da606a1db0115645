/**
 * NAT keep-alives on real sockets: one node with `nat_ping.interval: 2` and UAs on loopback
 * UDP sockets that count the OPTIONS they get. Regression for pings sent about once a second to
 * every contact (a per-tick quota over a short AoR list) and for phones that do not answer
 * OPTIONS being removed within seconds: over 10 s each contact behind NAT gets 5 ± 1 pings, a
 * contact not behind NAT none, and nobody is removed (removal is opt-in).
 */
import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createResponse, parseMessage } from '@sipedge/sip';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../src/config.js';
import { type ClusterNode, startNode } from '../src/node.js';

const dir = mkdtempSync(join(tmpdir(), 'cluster-node-natping-'));
let node: ClusterNode;
let sipPort: number;

/** A UA on its own UDP socket: registers, counts the OPTIONS it gets, answers them or not. */
class CountingUa {
  readonly sock = dgram.createSocket('udp4');
  options = 0;
  registered: Promise<void>;
  #ok!: () => void;
  constructor(
    readonly user: string,
    readonly contactHost: string | undefined,
    readonly answers: boolean,
  ) {
    this.registered = new Promise((r) => {
      this.#ok = r;
    });
    this.sock.on('message', (buf, from) => {
      const msg = parseMessage(buf, { datagram: true });
      if (!msg.isRequest) {
        if (msg.status === 200 && msg.cseq().method === 'REGISTER') this.#ok();
        return;
      }
      if (msg.method !== 'OPTIONS') return;
      this.options++;
      if (this.answers)
        this.sock.send(createResponse(msg, 200, 'OK').toBuffer(), from.port, from.address);
    });
  }
  async bind(): Promise<this> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', () => r()));
    return this;
  }
  get port(): number {
    return this.sock.address().port;
  }
  register(): void {
    const host = this.contactHost ?? `127.0.0.1:${this.port}`;
    const text = [
      `REGISTER sip:127.0.0.1:${sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${this.user}${Date.now()}`,
      'Max-Forwards: 70',
      `From: <sip:${this.user}@example.com>;tag=r${this.user}`,
      `To: <sip:${this.user}@example.com>`,
      `Call-ID: natping-${this.user}`,
      'CSeq: 1 REGISTER',
      `Contact: <sip:${this.user}@${host}>`,
      'Expires: 300',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.sock.send(text, sipPort, '127.0.0.1');
  }
  close(): void {
    this.sock.close();
  }
}

const uas: CountingUa[] = [];

beforeAll(async () => {
  node = await startNode(
    parseNodeConfig({
      node: { id: 1 },
      sip: {
        listeners: [{ proto: 'udp', address: '127.0.0.1:0' }],
        nat_ping: { interval: 2, timeout: 0.5 },
      },
      mi: { port: 0 },
      metrics: { enabled: false },
      clusterer: { listen: 'bin:127.0.0.1:0', seed: true, seed_fallback_interval: 0 },
      storage: { file: join(dir, 'node.sqlite') },
      logging: { level: 'silent', format: 'json' },
    }),
    { logger: pino({ level: 'silent' }) },
  );
  sipPort = node.sipListeners[0]!.port;
});

afterAll(async () => {
  for (const u of uas) u.close();
  await node?.stop();
});

describe('NAT pings on real sockets', () => {
  it('each contact behind NAT gets one OPTIONS per interval; none is removed', async () => {
    // behind NAT (the Contact names a private address the packet did not come from): two that
    // answer and two that never do (many NATed phones only keep the pinhole open)
    for (const [user, answers] of [
      ['a1', true],
      ['a2', true],
      ['s1', false],
      ['s2', false],
    ] as const)
      uas.push(await new CountingUa(user, '10.20.30.40:5060', answers).bind());
    // on the same host as the node, reachable as it says: not behind NAT, never pinged
    const direct = await new CountingUa('d1', undefined, true).bind();
    uas.push(direct);
    for (const u of uas) u.register();
    await Promise.all(uas.map((u) => u.registered));
    const start = Date.now();
    expect(node.location.contactCount).toBe(5);
    // 10 s of real time by the node's own clock: the pings are the thing measured
    await new Promise((r) => setTimeout(r, 10_000));
    const counts = Object.fromEntries(uas.map((u) => [u.user, u.options]));
    const elapsed = Date.now() - start;
    for (const u of uas.filter((x) => x !== direct)) {
      expect(
        u.options,
        `${u.user} in ${elapsed} ms: ${JSON.stringify(counts)}`,
      ).toBeGreaterThanOrEqual(4);
      expect(
        u.options,
        `${u.user} in ${elapsed} ms: ${JSON.stringify(counts)}`,
      ).toBeLessThanOrEqual(6);
    }
    expect(direct.options).toBe(0);
    expect(node.location.contactCount).toBe(5); // the silent ones too: removal is opt-in
    const stats = node.mi.stats;
    expect(stats.get('nathelper:pings_lost')).toBeGreaterThanOrEqual(6);
    expect(stats.get('nathelper:contacts_removed')).toBe(0);
  });
});
