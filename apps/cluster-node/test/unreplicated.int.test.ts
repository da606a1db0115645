/**
 * A node waiting for its first sync with no other node reachable (the first moments of a cold
 * start, or a node cut off before it ever synced) does not answer REGISTER 200: the binding
 * would live on it alone. It answers 503 with Retry-After, counted, until it is synced or
 * reaches another node.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiClient } from '@sipedge/mi';
import { peerPort, until } from '@sipedge/test-utils';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../src/config.js';
import { type ClusterNode, startNode } from '../src/node.js';
import { TestUa } from './ua.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'cluster-node-unreplicated-'));
const open: Array<{ close(): void } | ClusterNode> = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    if ('stop' in o) await o.stop();
    else o.close();
  }
});

async function lonelyNode(seed: boolean): Promise<ClusterNode> {
  // node 2 is configured on a port nobody listens on: it never comes up
  const nobody = await peerPort();
  const node = await startNode(
    parseNodeConfig({
      node: { id: 1 },
      sip: { listeners: [{ proto: 'udp', address: '127.0.0.1:0' }], nat_ping: { enabled: false } },
      mi: { port: 0 },
      metrics: { enabled: false },
      clusterer: {
        listen: 'bin:127.0.0.1:0',
        seed,
        seed_fallback_interval: 1,
        neighbours: [{ node_id: 2, url: `bin:127.0.0.1:${nobody}` }],
      },
      storage: { file: join(dir, `n-${seed}.sqlite`) },
      logging: { level: 'silent', format: 'json' },
    }),
    { logger },
  );
  open.push(node);
  return node;
}

let cseq = 0;
async function register(node: ClusterNode, user: string): Promise<number> {
  const ua = await new TestUa(user).bind();
  open.push(ua);
  const port = node.sipListeners[0]!.port;
  ua.send(
    [
      `REGISTER sip:127.0.0.1:${port} SIP/2.0`,
      ua.via(),
      'Max-Forwards: 70',
      `From: <sip:${user}@example.com>;tag=r${user}`,
      `To: <sip:${user}@example.com>`,
      `Call-ID: unrepl-${user}-${++cseq}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <${ua.contact}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    port,
  );
  const r = await ua.expect(
    'a REGISTER answer',
    (m) => !m.isRequest && m.cseq().method === 'REGISTER',
  );
  if (r.status === 503) {
    expect(r.reason).toBe('Not Replicated Yet');
    expect(r.header('retry-after')).toBe('1');
  }
  return r.status ?? 0;
}

describe('REGISTER on a node whose bindings would live on it alone', () => {
  it('a non-seed node cut off before its first sync answers 503, counted', async () => {
    const node = await lonelyNode(false);
    expect(await register(node, 'alice')).toBe(503);
    expect(await register(node, 'bob')).toBe(503);
    const mi = new MiClient({ url: node.miUrl });
    open.push(mi);
    const stats = (await mi.call('get_statistics', ['sip:register_503_unreplicated'])) as Record<
      string,
      number
    >;
    expect(stats['sip:register_503_unreplicated']).toBe(2);
    expect(node.location.allContacts().next().done).toBe(true);
  });

  it('a seed answers 503 until it falls back to synced, then 200', async () => {
    const node = await lonelyNode(true);
    expect(await register(node, 'carol')).toBe(503);
    await until(() => node.clusterer.isSynced('usrloc-contact-repl'), {
      what: 'the seed synced by its fallback',
    });
    expect(await register(node, 'carol')).toBe(200);
  });
});
