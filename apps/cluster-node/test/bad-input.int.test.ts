/**
 * Requests a node cannot read, against a running node (in-process, real UDP): each is answered
 * 400 with the reason (416 for a next hop that is no SIP URI), never 500; each is counted by
 * reason; the log gets one line per source per minute, not one per packet.
 */
import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMessage, type SipMessage } from '@sipedge/sip';
import { until } from '@sipedge/test-utils';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../src/config.js';
import { type ClusterNode, startNode } from '../src/node.js';

const lines: Array<{ msg: string }> = [];
let node: ClusterNode;
let port: number;
let sock: dgram.Socket;
const answers = new Map<string, SipMessage>();

beforeAll(async () => {
  const logger = pino(
    { level: 'info' },
    { write: (l: string) => lines.push(JSON.parse(l) as { msg: string }) },
  );
  node = await startNode(
    parseNodeConfig({
      node: { id: 1 },
      sip: { listeners: [{ proto: 'udp', address: '127.0.0.1:0' }], nat_ping: { enabled: false } },
      mi: { port: 0 },
      metrics: { enabled: false },
      clusterer: { listen: 'bin:127.0.0.1:0', seed: true, seed_fallback_interval: 0 },
      storage: { file: join(mkdtempSync(join(tmpdir(), 'cluster-node-bad-')), 'n.sqlite') },
      logging: { level: 'info', format: 'json' },
    }),
    { logger },
  );
  port = node.sipListeners[0]!.port;
  sock = dgram.createSocket('udp4');
  sock.on('message', (buf) => {
    const m = parseMessage(buf, { datagram: true });
    answers.set(m.callId(), m);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
});

afterAll(async () => {
  sock?.close();
  await node?.stop();
});

let seq = 0;
function send(rows: string[], method = 'OPTIONS', ruri = 'sip:bob@example.com'): string {
  const callId = `bad-${++seq}`;
  const text = [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK${callId};rport`,
    'Max-Forwards: 70',
    'From: <sip:a@example.com>;tag=a',
    'To: <sip:bob@example.com>',
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    ...rows,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  sock.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
  return callId;
}

async function answer(callId: string): Promise<SipMessage> {
  await until(() => answers.has(callId), { what: `an answer to ${callId}`, timeoutMs: 5000 });
  return answers.get(callId)!;
}

const stat = (name: string): number => node.mi.stats.get(name) ?? 0;

describe('bad input', () => {
  it('a malformed Route URI <sip:[zz]> is 400 (uri), counted, logged once for 300 packets', async () => {
    const before = lines.length;
    const ids = Array.from({ length: 300 }, () => send(['Route: <sip:[zz]>']));
    for (const id of ids) {
      const res = await answer(id);
      expect(res.status).toBe(400);
      expect(res.reason).toBe('Bad Request (uri)');
    }
    expect(stat('sip:bad_input_uri')).toBe(300);
    const logged = lines.slice(before);
    expect(logged.filter((l) => l.msg === 'SIP bad input')).toHaveLength(1);
    expect(logged.filter((l) => l.msg === 'SIP routing failed')).toHaveLength(0);
    expect(stat('sip:internal_errors')).toBe(0);
  });

  it('a next hop that is no SIP URI is 416, not 500', async () => {
    expect((await answer(send(['Route: <tel:+123>']))).status).toBe(416);
    expect((await answer(send([], 'OPTIONS', 'tel:+123'))).status).toBe(416);
  });

  it('our own Route with a parameter that does not decode is routed, not 500', async () => {
    const res = await answer(send([`Route: <sip:127.0.0.1:${port};lr;received=%E0%A4%A0%FF>`]));
    expect(res.status).toBeLessThan(500);
  });

  it('a request that does not parse is answered 400 with its reason and counted', async () => {
    const res = await answer(send(['Max-Forwards 70']));
    expect(res.status).toBe(400);
    expect(res.reason).toBe('Bad Request (header-syntax)');
    expect(stat('sip:bad_input_header_syntax')).toBe(1);
  });

  it('a REGISTER with two To rows is 400 (header-repeated), not a 500 for its whole batch', async () => {
    const res = await answer(
      send(['To: <>', 'Contact: <sip:a@127.0.0.1:9>'], 'REGISTER', `sip:127.0.0.1:${port}`),
    );
    expect(res.status).toBe(400);
    expect(res.reason).toBe('Bad Request (header-repeated)');
  });

  it('a REGISTER the registrar fails on does not fail the others of its turn', async () => {
    const registrar = node.registrar;
    const saveMany = registrar.saveMany.bind(registrar);
    registrar.saveMany = (items) => {
      if (items.some((i) => i.request.callId().startsWith('poison'))) throw new Error('boom');
      return saveMany(items);
    };
    try {
      const reg = (callId: string, user: string) =>
        parseMessage(
          Buffer.from(
            [
              `REGISTER sip:127.0.0.1:${port} SIP/2.0`,
              `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK${callId}`,
              'Max-Forwards: 70',
              `From: <sip:${user}@example.com>;tag=a`,
              `To: <sip:${user}@example.com>`,
              `Call-ID: ${callId}`,
              'CSeq: 1 REGISTER',
              `Contact: <sip:${user}@127.0.0.1:9>`,
              'Content-Length: 0',
              '',
              '',
            ].join('\r\n'),
          ),
        );
      const from = {
        transport: 'UDP',
        address: '127.0.0.1',
        port: sock.address().port,
        iface: node.sip.node,
      };
      // one event-loop turn: both go to the registrar in one batch
      expect(node.router.stateless(reg('good-1', 'good'), from)).toBe(true);
      expect(node.router.stateless(reg('poison-1', 'poison'), from)).toBe(true);
      expect((await answer('good-1')).status).toBe(200);
      expect((await answer('poison-1')).status).toBe(500);
    } finally {
      registrar.saveMany = saveMany;
    }
  });

  it('a REGISTER with a CSeq for another method is 400 (cseq-method), counted', async () => {
    const callId = `bad-${++seq}`;
    const text = [
      `REGISTER sip:127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK${callId}`,
      'From: <sip:a@example.com>;tag=a',
      'To: <sip:a@example.com>',
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      'Contact: <sip:a@127.0.0.1:9>',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    sock.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
    const res = await answer(callId);
    expect(res.status).toBe(400);
    expect(res.reason).toBe('Bad Request (cseq-method)');
    expect(stat('sip:bad_input_cseq_method')).toBe(1);
  });
});
