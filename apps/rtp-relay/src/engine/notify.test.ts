import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
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

  it('counts a line it cannot deliver', async () => {
    const notifier = new StreamNotifier();
    notifier.send({ kind: 'unix', path: '/nonexistent/dir/n.sock' }, 'x\n');
    for (let i = 0; i < 100 && notifier.failed === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    notifier.close();
    expect(notifier.failed).toBe(1);
  });
});
