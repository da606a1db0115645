/**
 * Durability of acknowledged registrations: a cluster-node process taking REGISTERs at a steady
 * rate is SIGKILLed mid-load, and every REGISTER it answered 200 must be in its SQLite file,
 * read afterwards with better-sqlite3 read-only. Run for both `storage.synchronous` values: a
 * process crash loses nothing with either (`full` adds an fsync per commit for power loss,
 * which a test cannot cut). Needs the bin built: `npx tsc -b apps/cluster-node`.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerPort, startNodeBin, until } from '@sipedge/test-utils';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { NODE_BIN } from './cli.js';

/** REGISTERs sent per tick, and the tick: a steady 500 per second. */
const PER_TICK = 2;
const TICK_MS = 4;

function register(user: string, port: number, callId: string): string {
  return [
    'REGISTER sip:dur.test SIP/2.0',
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${callId};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@dur.test>;tag=${callId.slice(0, 8)}`,
    `To: <sip:${user}@dur.test>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 REGISTER',
    `Contact: <sip:${user}@127.0.0.1:${port}>`,
    'Expires: 3600',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('a SIGKILL mid-load loses no acknowledged registration', () => {
  for (const synchronous of ['normal', 'full'] as const) {
    it(`storage.synchronous: ${synchronous}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'cluster-node-dur-'));
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'node.yaml');
      writeFileSync(
        file,
        stringify({
          node: { id: 1, name: 'dur' },
          sip: { listeners: [{ proto: 'udp', address: '127.0.0.1:0' }] },
          mi: { port: 0 },
          metrics: { enabled: false },
          clusterer: { listen: `bin:127.0.0.1:${await peerPort()}`, seed: true },
          storage: { file: './node.sqlite', synchronous },
          logging: { level: 'warn', format: 'json' },
        }),
      );
      const node = await startNodeBin(NODE_BIN, ['--config', file], /SIP udp 127\.0\.0\.1:(\d+)/);
      onTestFinished(() => node.stop('SIGKILL').then(() => {}));
      const sipPort = Number(node.ready);
      await until(() => /ready pid=/.test(node.output()), { what: 'the node ready' });

      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      onTestFinished(() => {
        sock.close();
      });
      const { port } = sock.address();
      const users = new Map<string, string>(); // call-id → user
      const acked = new Set<string>();
      sock.on('message', (m) => {
        const text = m.toString('latin1');
        if (!text.startsWith('SIP/2.0 200 ')) return;
        const callId = /^Call-ID: *(\S+)/im.exec(text)?.[1];
        const user = callId === undefined ? undefined : users.get(callId);
        if (user !== undefined) acked.add(user);
      });
      let sent = 0;
      const load = setInterval(() => {
        for (let i = 0; i < PER_TICK; i++) {
          const user = `d${sent++}`;
          const callId = randomBytes(8).toString('hex');
          users.set(callId, user);
          sock.send(register(user, port, callId), sipPort, '127.0.0.1');
        }
      }, TICK_MS);
      onTestFinished(() => clearInterval(load));

      await until(() => acked.size >= 400, {
        what: '400 acknowledged REGISTERs',
        timeoutMs: 15_000,
      });
      await node.stop('SIGKILL');
      clearInterval(load);
      // the node is gone: no 200 can arrive any more, and the load was still running
      const answered = new Set(acked);
      expect(sent).toBeGreaterThan(answered.size);

      const db = new Database(join(dir, 'node.sqlite'), { readonly: true, fileMustExist: true });
      try {
        const stored = new Set(
          (db.prepare('SELECT aor FROM location').all() as { aor: string }[]).map(
            (r) => r.aor.split('@')[0] ?? '',
          ),
        );
        const lost = [...answered].filter((u) => !stored.has(u));
        expect(lost, `${lost.length} of ${answered.size} acknowledged lost`).toEqual([]);
      } finally {
        db.close();
      }
    }, 40_000);
  }
});
