import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adminRequest } from '../src/admin-client.js';
import { AdminServer } from '../src/admin-server.js';
import { RtpBalancer } from '../src/balancer.js';
import { parseRtpClusterConfig } from '../src/config/schema.js';
import { flush, ScriptedMember } from './scripted.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What rtp_cluster_client.py does: send the command and `quit`, print until EOF. */
function session(path: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const c = createConnection(path, () => c.write(text));
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      out += d;
    });
    c.on('end', () => resolve(out));
    c.on('error', reject);
    setTimeout(() => {
      c.destroy();
      reject(new Error(`no EOF within 5 s, got ${JSON.stringify(out)}`));
    }, 5000).unref();
  });
}

/** A one-cluster balancer with one scripted member, and its admin server in a temp dir. */
async function adminServer(clusterAddress: { protocol: string; address: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'rtpc-admin-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const balancer = new RtpBalancer(
    parseRtpClusterConfig({
      clusters: [
        {
          name: 'c',
          ...clusterAddress,
          rtpproxies: [
            {
              name: 'm',
              protocol: 'udp',
              address: '127.0.0.1:2',
              weight: 1,
              capacity: 9,
              status: 'ACTIVE',
            },
          ],
        },
      ],
    }),
    { connect: (mc) => new ScriptedMember(mc.name) },
  );
  await balancer.start();
  cleanups.push(() => balancer.stop());
  await flush();
  const server = new AdminServer({
    path: `unix:${join(dir, 'admin.sock')}`,
    context: { balancer },
  });
  await server.start();
  cleanups.push(() => server.stop());
  return { dir, server };
}

describe('AdminServer', () => {
  it('answers line commands on a unix socket until quit', async () => {
    const { server } = await adminServer({ protocol: 'udp', address: '127.0.0.1:1' });
    const out = await session(server.path, 'modify c pause m\nls\nbogus\nquit\n');
    expect(out).toBe(
      [
        'OK',
        'Cluster: #0',
        '    name = c',
        "    address = ('127.0.0.1', 1)",
        '    online members = 1 (0 active, 1 suspended, 0 draining)',
        '    offline members = 0',
        'OK',
        'ERROR: unknown command',
        '',
      ].join('\n'),
    );
  });

  it('adminRequest sends a command and quit, and reads to EOF', async () => {
    const { dir, server } = await adminServer({
      protocol: 'unix',
      address: '/tmp/never-opened.sock',
    });
    const ls = await adminRequest('ls', { socket: `unix:${server.path}` });
    expect(ls.ok).toBe(true);
    expect(ls.text).toMatch(/^Cluster: #0\n {4}name = c\n {4}address = \/tmp\/never-opened.sock\n/);
    const bad = await adminRequest('ls nope', { socket: server.path });
    expect(bad).toEqual({ text: 'ERROR: nope: cluster not found\n', ok: false });
    await expect(adminRequest('ls', { socket: join(dir, 'missing.sock') })).rejects.toMatchObject({
      code: 'RTP_CLUSTER_SOCKET',
    });
  });
});
