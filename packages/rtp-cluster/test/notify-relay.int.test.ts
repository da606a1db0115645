import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@sipedge/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { DisconnectRelay } from '../src/notify-relay.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function unixListener(
  path: string,
): Promise<{ server: Server; lines: string[]; next: () => Promise<string> }> {
  const lines: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  const server = createServer((s) => {
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const w = waiters.shift();
        if (w) w(line);
        else lines.push(line);
        nl = buf.indexOf('\n');
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(path, () =>
      resolve({
        server,
        lines,
        next: () => {
          const l = lines.shift();
          if (l !== undefined) return Promise.resolve(l);
          return new Promise<string>((r, rej) => {
            const t = setTimeout(() => rej(new Error('no notification within 5 s')), 5000);
            waiters.push((x) => {
              clearTimeout(t);
              r(x);
            });
          });
        },
      }),
    ),
  );
}

async function sendLines(port: number, lines: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const c = createConnection(port, '127.0.0.1', () => c.end(lines));
    c.on('close', () => resolve());
    c.on('error', reject);
  });
}

describe('DisconnectRelay', () => {
  it('forwards "<suffix> <tag>" lines from members to the unix socket prefix+suffix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dnrelay-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dest = await unixListener(join(dir, 'notify_a'));
    cleanups.push(() => new Promise((r) => dest.server.close(() => r())));
    const relay = new DisconnectRelay({
      host: '127.0.0.1',
      port: 0,
      destSocketPrefix: `unix:${join(dir, 'notify_')}`,
      allowed: ['127.0.0.1'],
    });
    await relay.start();
    cleanups.push(() => relay.stop());
    await sendLines(relay.port, 'a T12 with space\na T13\n');
    expect(await dest.next()).toBe('T12 with space');
    expect(await dest.next()).toBe('T13');
    expect(relay.stats.relayed).toBe(2);
  });

  it('refuses connections from addresses that are not members, and bad lines', async () => {
    const relay = new DisconnectRelay({
      host: '127.0.0.1',
      port: 0,
      destSocketPrefix: '/nonexistent/prefix_',
      allowed: ['127.0.0.2'],
    });
    await relay.start();
    cleanups.push(() => relay.stop());
    await sendLines(relay.port, 'a T1\n');
    expect(relay.stats.refusedConnections).toBe(1);
    relay.allow(['127.0.0.1']);
    await sendLines(relay.port, 'nospace\n../evil T\n');
    await until(() => relay.stats.badLines >= 2, { what: 'the relay to read both lines' });
    expect(relay.stats.badLines).toBe(2);
  });
});
