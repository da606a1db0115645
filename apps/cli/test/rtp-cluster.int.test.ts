import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminServer, parseRtpClusterConfig, RtpBalancer } from '@sipedge/rtp-cluster';
import { type Relay, startRelay } from '@sipedge/rtp-relay';
import { RtppClient } from '@sipedge/rtpp';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const appDir = join(import.meta.dirname, '..');
const bin = join(appDir, 'dist', 'src', 'bin.js');
const dir = mkdtempSync(join(tmpdir(), 'cli-rtpc-'));
const socket = join(dir, 'admin.sock');
let relay: Relay;
let balancer: RtpBalancer;
let server: AdminServer;

beforeAll(async () => {
  await execa('npx', ['tsc', '-b', appDir], { cwd: join(appDir, '..', '..') });
  // a real relay as the one member; no call is placed, so its media ports stay unbound
  relay = await startRelay({
    control: ['udp:127.0.0.1:0'],
    ipv4: '127.0.0.1',
    portMin: 46000,
    portMax: 46099,
  });
  const [, relayAddress] = /^udp:(.*)$/.exec(relay.control[0] ?? '') ?? [];
  let onMemberUp = (): void => {};
  const memberUp = new Promise<void>((resolve) => {
    onMemberUp = resolve;
  });
  balancer = new RtpBalancer(
    parseRtpClusterConfig({
      clusters: [
        {
          name: 'media',
          protocol: 'udp',
          address: '127.0.0.1:22222',
          rtpproxies: [
            {
              name: 'r1',
              protocol: 'udp',
              address: relayAddress,
              weight: 1,
              capacity: 10,
              status: 'ACTIVE',
            },
          ],
        },
      ],
    }),
    {
      connect: (m) => new RtppClient({ socket: `${m.protocol}:${m.address}`, timeoutMs: 800 }),
      onEvent: (e) => {
        if (e.type === 'member_up') onMemberUp();
      },
    },
  );
  await balancer.start();
  await memberUp; // `ls` below counts it online
  server = new AdminServer({ path: socket, context: { balancer } });
  await server.start();
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await balancer?.stop();
  await relay?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sipedge = (args: string[], env: Record<string, string> = {}) =>
  execa('node', [bin, 'rtp-cluster', ...args], {
    reject: false,
    env,
    extendEnv: false,
    timeout: 15_000,
  });

describe('sipedge rtp-cluster', () => {
  it('prints the admin reply, as rtp_cluster_client.py does', async () => {
    const r = await sipedge(['--socket', `unix:${socket}`, 'ls']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(
      [
        'Cluster: #0',
        '    name = media',
        "    address = ('127.0.0.1', 22222)",
        '    online members = 1 (1 active, 0 suspended, 0 draining)',
        '    offline members = 0',
        'OK',
      ].join('\n'),
    );
  });

  it('runs modify commands, takes the socket from the environment, and exits 1 on ERROR', async () => {
    const env = { SIPEDGE_RTPC_SOCKET: socket };
    expect((await sipedge(['modify', 'media', 'pause', 'r1'], env)).exitCode).toBe(0);
    expect(balancer.cluster('media')!.member('r1')!.status).toBe('SUSPENDED');
    const bad = await sipedge(['modify', 'media', 'pause', 'nobody'], env);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toBe('ERROR: nobody: RTPproxy not found');
    const json = await sipedge(['--json', 'modify', 'media', 'resume', 'r1'], env);
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, text: 'OK\n' });
  });

  it('exits 2 when the socket is not there, or without a command', async () => {
    const r = await sipedge(['--socket', join(dir, 'missing.sock'), 'ls']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/cannot talk to/);
    expect((await sipedge([])).exitCode).toBe(2);
  });
});
