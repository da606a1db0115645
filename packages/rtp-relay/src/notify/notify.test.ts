import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { until } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { parseNotifySpec, resolveNotifySocket, StreamNotifier } from './notify.js';

describe('notify allow-list', () => {
  it('parses the -n forms and rejects others', () => {
    expect(parseNotifySpec('unix:/a/b').destination).toEqual({ kind: 'unix', path: '/a/b' });
    expect(parseNotifySpec('/a/b').destination).toEqual({ kind: 'unix', path: '/a/b' });
    expect(parseNotifySpec('tcp:127.0.0.1:9').destination).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 9,
    });
    expect(() => parseNotifySpec('tcp:127.0.0.1')).toThrow(/tcp:host:port/);
    expect(() => parseNotifySpec('udp:1.2.3.4:5')).toThrow();
    expect(() => parseNotifySpec('unix:')).toThrow(/empty/);
  });

  it('maps %%CC_SELF%% to 127.0.0.1 when the sender is unknown or IPv6', () => {
    const allow = [parseNotifySpec('tcp:%%CC_SELF%%:7')];
    expect(resolveNotifySocket(allow, 'tcp:%%CC_SELF%%:7', undefined)).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 7,
    });
    expect(resolveNotifySocket(allow, 'tcp:%%CC_SELF%%:7', '::1')).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 7,
    });
    expect(resolveNotifySocket(allow, 'tcp:%%CC_SELF%%:8', '127.0.0.2')).toBeUndefined();
  });
});

describe('StreamNotifier', () => {
  it('delivers lines over one reused unix connection', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notify-'));
    const sock = path.join(dir, 'n.sock');
    let connections = 0;
    let received = '';
    let listening: () => void = () => {};
    const ready = new Promise<void>((r) => {
      listening = r;
    });
    const done = new Promise<void>((resolve) => {
      const server = net.createServer((c) => {
        connections++;
        c.on('data', (d) => {
          received += d.toString();
          if (received === 'a\nb\n') {
            c.destroy();
            server.close();
            resolve();
          }
        });
      });
      server.listen(sock, listening);
    });
    await ready;
    const notifier = new StreamNotifier();
    notifier.send({ kind: 'unix', path: sock }, 'a\n');
    notifier.send({ kind: 'unix', path: sock }, 'b\n');
    await Promise.race([
      done,
      new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 5000)),
    ]);
    notifier.close();
    expect(received).toBe('a\nb\n');
    expect(connections).toBe(1);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('delivers over TCP and reconnects after the peer closed', async () => {
    const lines: string[] = [];
    let conns = 0;
    const server = net.createServer((c) => {
      conns++;
      c.on('data', (d) => {
        lines.push(d.toString());
        c.end(); // close after each line: the notifier must reconnect for the next one
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const notifier = new StreamNotifier();
    try {
      notifier.send({ kind: 'tcp', host: '127.0.0.1', port }, 'one\n');
      await until(() => lines.length === 1, { what: 'the first line' });
      await until(() => notifier.delivered === 1, { what: 'the first delivery' });
      // the server closed the connection; once the notifier has seen that, the next line reconnects
      await until(() => notifier.openConnections === 0, { what: 'the notifier to see the close' });
      notifier.send({ kind: 'tcp', host: '127.0.0.1', port }, 'two\n');
      await until(() => lines.length === 2, { what: 'the second line' });
      expect(lines).toEqual(['one\n', 'two\n']);
      expect(conns).toBe(2);
    } finally {
      notifier.close();
      server.close();
    }
  });

  it('counts a line it cannot deliver', async () => {
    const notifier = new StreamNotifier();
    notifier.send({ kind: 'unix', path: '/nonexistent/dir/n.sock' }, 'x\n');
    await until(() => notifier.failed > 0, { what: 'the failed delivery counted' }).finally(() =>
      notifier.close(),
    );
    expect(notifier.failed).toBe(1);
  });
});
