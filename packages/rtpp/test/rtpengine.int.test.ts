/**
 * Interop: RtppClient against Debian's rtpengine speaking the legacy rtpproxy protocol on
 * `--listen-udp` (loopback only). rtpengine must be installed; the test fails when it is not.
 * Never send rtpengine a `Q`: with a later `D` for the same call it hangs
 * (docs/protocols/rtpproxy.md §6.4).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { peerPort, until } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtppClient } from '../src/index.js';
import { tempDir, withTimeout } from './helpers.js';

const RTPENGINE = '/usr/bin/rtpengine';

let proc: ChildProcess | undefined;
let client: RtppClient;
let dir: ReturnType<typeof tempDir>;
let log = '';
const portMin = 42_000 + Math.floor(Math.random() * 200) * 40;
const portMax = portMin + 39;

beforeAll(async () => {
  if (!existsSync(RTPENGINE)) {
    throw new Error(`${RTPENGINE} is missing: install Debian's rtpengine-daemon to run this test`);
  }
  dir = tempDir();
  const port = await peerPort();
  proc = spawn(
    RTPENGINE,
    [
      '--config-file=none',
      '--interface=127.0.0.1',
      `--listen-udp=127.0.0.1:${port}`,
      '--foreground',
      `--pidfile=${dir.path('rtpengine.pid')}`,
      '--table=-1',
      `--port-min=${portMin}`,
      `--port-max=${portMax}`,
      '--log-stderr',
      '--log-level=6',
      '--num-threads=1',
      '--delete-delay=0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const exited = new Promise<never>((_, reject) =>
    proc!.once('exit', (code) => reject(new Error(`rtpengine exited (${code}):\n${log}`))),
  );
  // wait until it answers V, on a client of its own
  const waiter = new RtppClient({
    socket: `udp:127.0.0.1:${port}`,
    timeoutMs: 500,
    initialRttMs: 20,
  });
  const ready = until(() => waiter.send('V'), {
    what: () => `rtpengine to answer V:\n${log}`,
    timeoutMs: 20_000,
  });
  try {
    await Promise.race([ready, exited]);
  } finally {
    waiter.destroy();
  }
  client = new RtppClient({ socket: `udp:127.0.0.1:${port}`, timeoutMs: 2000, initialRttMs: 20 });
}, 30_000);

afterAll(async () => {
  client?.destroy();
  const p = proc;
  if (p?.pid !== undefined && p.exitCode === null && p.signalCode === null) {
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    process.kill(p.pid, 'SIGTERM');
    await withTimeout(gone, 5000, 'rtpengine exit').catch(() => {
      if (p.pid !== undefined) process.kill(p.pid, 'SIGKILL');
    });
  }
  dir?.remove();
}, 10_000);

describe('RtppClient ↔ rtpengine (legacy rtpproxy protocol over UDP)', () => {
  it('V answers the base version; VF answers 1 only for what rtpengine implements', async () => {
    expect(await client.send('V')).toEqual({ kind: 'value', value: '20040107' });
    expect(await client.send('VF 20050322')).toEqual({ kind: 'value', value: '1' });
    expect(await client.send('VF 20081224')).toEqual({ kind: 'value', value: '0' });
    const probe = await client.probe();
    expect(probe.version).toBe('20040107');
    expect(probe.features.get('20050322')).toBe(true);
    expect(probe.features.get('20040107')).toBe(true);
    expect(probe.features.get('20191015')).toBe(false);
  });

  it('U, L, D round trip (Kamailio-shaped commands)', async () => {
    const callId = `interop-${process.pid}-${Date.now()}@127.0.0.1`;
    const u = await client.send(`Uc0 ${callId} 127.0.0.1 6004 9094SIPpTag001;1`);
    expect(u).toMatchObject({ kind: 'port', address: '127.0.0.1', family: '4', ipv6: false });
    const uPort = u.kind === 'port' ? u.port : -1;
    expect(uPort).toBeGreaterThanOrEqual(portMin);
    expect(uPort).toBeLessThanOrEqual(portMax);

    const l = await client.send(`Lc0 ${callId} 127.0.0.1 6000 9094SIPpTag001;1 8978SIPpTag011;1`);
    expect(l).toMatchObject({ kind: 'port', address: '127.0.0.1', family: '4' });
    const lPort = l.kind === 'port' ? l.port : -1;
    expect(lPort).toBeGreaterThanOrEqual(portMin);
    expect(lPort).toBeLessThanOrEqual(portMax);
    expect(lPort).not.toBe(uPort);

    // a repeated U for the same leg keeps its port
    const again = await client.send(`Uc0 ${callId} 127.0.0.1 6004 9094SIPpTag001;1`);
    expect(again.kind === 'port' && again.port).toBe(uPort);

    expect(await client.send(`D ${callId} 9094SIPpTag001 8978SIPpTag011`)).toEqual({
      kind: 'value',
      value: '0',
    });
    expect(client.stats().timeouts).toBe(0);
  });
});
