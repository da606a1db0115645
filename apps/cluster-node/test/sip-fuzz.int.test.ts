/**
 * SIP garbage against a running node (in-process, real UDP, a real relay behind the balancer):
 * well-formed requests and responses of every kind the router handles, mutated by fast-check
 * (fixed seed) — bytes flipped, truncated, headers replaced by hostile values (our own Route with
 * broken parameters, huge CSeq, bad SDP, Contact `*`). Afterwards the node still answers, and
 * nothing reached the catch-all: every bad message got a 4xx (never a 500) or was dropped and
 * counted.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiClient } from '@sipedge/mi';
import type { Relay } from '@sipedge/rtp-relay';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../src/config.js';
import { type ClusterNode, startNode } from '../src/node.js';
import { loopbackRelay } from './relay.js';
import { sdp, TestUa } from './ua.js';

const logger = pino({ level: 'silent' });
let relay: Relay;
let node: ClusterNode;
let port: number;
let ua: TestUa;

beforeAll(async () => {
  relay = await loopbackRelay(43000);
  node = await startNode(
    parseNodeConfig({
      node: { id: 1 },
      sip: { listeners: [{ proto: 'udp', address: '127.0.0.1:0' }], nat_ping: { enabled: false } },
      mi: { port: 0 },
      metrics: { enabled: false },
      clusterer: { listen: 'bin:127.0.0.1:0', seed: true, seed_fallback_interval: 0 },
      rtp: { relays: [{ name: 'r1', socket: relay.control[0] }], heartbeat_interval: 200 },
      storage: { file: join(mkdtempSync(join(tmpdir(), 'cluster-node-fuzz-')), 'n.sqlite') },
      logging: { level: 'silent', format: 'json' },
    }),
    { logger },
  );
  port = node.sipListeners[0]!.port;
  ua = await new TestUa('fuzz').bind();
});

afterAll(async () => {
  ua?.close();
  await node?.stop();
  await relay?.stop();
});

function templates(): string[] {
  const me = `127.0.0.1:${port}`;
  HOSTILE.push(`Route: <sip:${me};lr;pt;received=%E0%A4%A0%FF;flow=%FF>`);
  const via = `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=z9hG4bK-f1;rport`;
  const base = (method: string, uri: string, extra: string[], body = '') =>
    [
      `${method} ${uri} SIP/2.0`,
      via,
      'Max-Forwards: 70',
      'From: <sip:a@example.com>;tag=fa',
      `To: <sip:b@example.com>${method === 'BYE' || method === 'ACK' ? ';tag=tb' : ''}`,
      'Call-ID: fuzz-1@test',
      `CSeq: 1 ${method}`,
      `Contact: <sip:a@127.0.0.1:${ua.port}>`,
      ...extra,
      ...(body === '' ? [] : ['Content-Type: application/sdp']),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  return [
    base('REGISTER', `sip:${me}`, ['Expires: 600', 'Supported: path', 'Path: <sip:e;lr>']),
    base('INVITE', 'sip:b@example.com', [], sdp(ua.port + 1)),
    base(
      'INVITE',
      'sip:b@example.com',
      [`Route: <sip:${me};lr;pt;received=sip%3A127.0.0.1%3A9>`],
      sdp(9),
    ),
    base('BYE', `sip:b@${me}`, [`Route: <sip:${me};lr;ma>`]),
    base('ACK', 'sip:b@127.0.0.1:9', [`Route: <sip:${me};lr;ma>`], sdp(7)),
    base('CANCEL', 'sip:b@example.com', []),
    base('OPTIONS', `sip:${me}`, []),
    [
      'SIP/2.0 200 OK',
      `Via: SIP/2.0/UDP ${me};branch=z9hG4bKxx;rport`,
      via,
      'From: <sip:a@example.com>;tag=fa',
      'To: <sip:b@example.com>;tag=tb',
      'Call-ID: fuzz-1@test',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  ];
}

const HOSTILE = [
  'Via: garbage',
  'Via: SIP/2.0/UDP [::1;branch=',
  'CSeq: 99999999999999999999 INVITE',
  'CSeq: 1',
  'Contact: *',
  'Contact: <sip:a@10.0.0.1:99999>;expires=abc',
  'Route: <sip:127.0.0.1:1;lr;received=%ZZ%>',
  'Route: <sip:x',
  'Route: <sip:[zz]>',
  'Route: <tel:+1>',
  'Record-Route: <>',
  'Max-Forwards: -1',
  'Content-Length: 99999',
  'Content-Type: application/sdp',
  'Path: <sip:127.0.0.1;lr;pt;flow=%00>',
  'To: <tel:+1>',
  'To: <>',
  'From: <sip:@>',
  'Expires: -5',
];

describe('SIP garbage', () => {
  it('mutated requests and responses never break the node', async () => {
    const tpl = templates();
    const mutated = fc
      .tuple(
        fc.integer({ min: 0, max: tpl.length - 1 }),
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.nat(255) }),
            fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
            fc.record({
              kind: fc.constant('header' as const),
              line: fc.nat(),
              value: fc.constantFrom(...HOSTILE),
            }),
          ),
          { maxLength: 4 },
        ),
      )
      .map(([i, edits]) => {
        let lines = tpl[i]!.split('\r\n');
        let buf: Buffer | undefined;
        for (const e of edits) {
          if (e.kind === 'header') {
            const at = 1 + (e.line % Math.max(1, lines.length - 3));
            lines = [...lines.slice(0, at), e.value, ...lines.slice(at + 1)];
          }
        }
        buf = Buffer.from(lines.join('\r\n'), 'latin1');
        for (const e of edits) {
          if (e.kind === 'flip' && buf.length > 0) buf[e.at % buf.length] = e.byte;
          if (e.kind === 'cut' && buf.length > 0) buf = buf.subarray(0, e.at % buf.length);
        }
        return buf;
      });
    await fc.assert(
      fc.asyncProperty(mutated, async (buf) => {
        ua.sendTo(buf.toString('latin1'), '127.0.0.1', port);
        await new Promise((r) => setImmediate(r));
      }),
      { seed: 20261123, numRuns: 600 },
    );
    // a request it cannot read is the sender's fault: never a 500
    await ua.none('a 500', (m) => !m.isRequest && m.status === 500, 200);
    // the node still works: a fresh REGISTER is answered 200
    ua.send(
      [
        `REGISTER sip:127.0.0.1:${port} SIP/2.0`,
        ua.via(),
        'Max-Forwards: 70',
        'From: <sip:after@example.com>;tag=x',
        'To: <sip:after@example.com>',
        'Call-ID: after-fuzz@test',
        'CSeq: 1 REGISTER',
        `Contact: <${ua.contact}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      port,
    );
    await ua.expect(
      '200 to the REGISTER after the fuzz',
      (m) => !m.isRequest && m.header('call-id') === 'after-fuzz@test' && m.status === 200,
    );
    const mi = new MiClient({ url: node.miUrl });
    try {
      const stats = (await mi.call('get_statistics', [['sip:']])) as Record<string, number>;
      expect(stats['sip:internal_errors']).toBe(0);
      expect(stats['sip:parse_errors']).toBeGreaterThan(0);
      expect(stats['sip:bad_requests']).toBeGreaterThan(0);
    } finally {
      mi.close();
    }
  }, 60_000);
});
