/**
 * Interop: Kamailio 5.6's rtpproxy module pointed at the balancer's socket, sipp placing calls
 * through Kamailio, and Debian's rtpengine (--listen-udp) as one member beside a
 * sipedge-rtp-relay. Fails when kamailio, sipp or rtpengine is missing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminRequest } from '@sipedge/rtp-cluster';
import { RtppClient } from '@sipedge/rtpp';
import {
  kamailioRtpproxyConfig,
  type Proc,
  peerPort,
  runSippCall,
  startKamailio,
  startNodeBin,
  startRtpengine,
  until,
  waitUdpBound,
} from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAEMON_BIN, RELAY_BIN } from './processes.js';

const dir = mkdtempSync(join(tmpdir(), 'rtpc-interop-'));
const procs: Proc[] = [];
let relaySpec: string;
let rtpengineSpec: string;
let sipPort: number;
/** Kamailio relays every request to this port: each call's UAS listens there. */
let uasPort: number;
let relayClient: RtppClient;
const admin = (cmd: string) => adminRequest(cmd, { socket: join(dir, 'admin.sock') });

beforeAll(async () => {
  const relay = await startNodeBin(
    RELAY_BIN,
    [
      '-s',
      'udp:127.0.0.1:0',
      '-l',
      '127.0.0.2',
      '-m',
      '47000',
      '-M',
      '47999',
      '--log-level',
      'warn',
    ],
    /sipedge-rtp-relay ready control=([^\s,]+)/,
  );
  procs.push(relay);
  relaySpec = relay.ready;
  relayClient = new RtppClient({ socket: relaySpec, timeoutMs: 2000 });
  const rtpengine = await startRtpengine({ dir, portMin: 48000, portMax: 48999 });
  procs.push(rtpengine);
  rtpengineSpec = rtpengine.spec;

  const member = (name: string, spec: string) => `
    <rtpproxy><name>${name}</name><protocol>udp</protocol><address>${spec.slice(4)}</address>
      <weight>1</weight><capacity>1000</capacity><status>ACTIVE</status></rtpproxy>`;
  writeFileSync(
    join(dir, 'rtp_cluster.xml'),
    `<rtp_cluster_config><rtp_cluster><name>media</name><protocol>udp</protocol>
    <address>127.0.0.1:0</address>${member('relay', relaySpec)}${member('rtpengine', rtpengineSpec)}
    </rtp_cluster></rtp_cluster_config>`,
  );
  const daemon = await startNodeBin(
    DAEMON_BIN,
    [
      '-f',
      '-c',
      join(dir, 'rtp_cluster.xml'),
      '-s',
      join(dir, 'admin.sock'),
      '-P',
      join(dir, 'pid'),
      '--state-db',
      '',
      '--log-level',
      'warn',
    ],
    // the balancer's control port was left to the OS (port 0): read it from the output
    /cluster media listening on udp:127\.0\.0\.1:(\d+)[\s\S]*rtp-cluster: ready/,
  );
  procs.push(daemon);
  const clusterPort = Number(daemon.ready);
  // both members probed and online before Kamailio asks for capabilities
  await until(async () => /online members = 2 /.test((await admin('ls')).text), {
    what: 'both members online',
    intervalMs: 100,
  });

  // Kamailio and the sipp UAS cannot listen on port 0
  sipPort = await peerPort();
  uasPort = await peerPort();
  writeFileSync(
    join(dir, 'kamailio.cfg'),
    kamailioRtpproxyConfig({ sipPort, rtpproxySock: `udp:127.0.0.1:${clusterPort}`, uasPort }),
  );
  const kamailio = startKamailio(dir, join(dir, 'kamailio.cfg'));
  procs.push(kamailio);
  await waitUdpBound(sipPort, 15_000).catch((e: Error) => {
    throw new Error(`${e.message}\nkamailio:\n${kamailio.output()}`);
  });
}, 60_000);

afterAll(async () => {
  relayClient?.destroy();
  for (const p of procs.reverse()) await p.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function call(name: string) {
  const callDir = join(dir, name);
  mkdirSync(callDir);
  return runSippCall({ dir: callDir, proxyPort: sipPort, uasPort, callIdPrefix: name });
}

describe('Kamailio → rtp-cluster → relay and rtpengine', () => {
  it('anchors a call on the relay: the SDP Kamailio forwards carries the relay, D ends the session', async () => {
    expect((await admin('modify media pause rtpengine')).text).toBe('OK\n');
    const r = await call('via-relay');
    expect(r.uacCode, r.diagnostics).toBe(0);
    expect(r.uasCode, r.diagnostics).toBe(0);
    expect(r.uasLog).toMatch(/INVITE-SDP c=127\.0\.0\.2 m=47\d{3}/);
    expect(r.uacLog).toMatch(/200-SDP c=127\.0\.0\.2 m=47\d{3}/);
    const info = await relayClient.send('I');
    expect(info.kind === 'info' && info.entries.find(([k]) => k === 'sessions created')?.[1]).toBe(
      '1',
    );
    expect(info.kind === 'info' && info.entries.find(([k]) => k === 'active sessions')?.[1]).toBe(
      '0',
    );
    expect((await admin('modify media resume rtpengine')).text).toBe('OK\n');
  }, 60_000);

  it('anchors a call on rtpengine through the same balancer socket', async () => {
    expect((await admin('modify media pause relay')).text).toBe('OK\n');
    const r = await call('via-rtpengine');
    expect(r.uacCode, r.diagnostics).toBe(0);
    expect(r.uasCode, r.diagnostics).toBe(0);
    expect(r.uasLog).toMatch(/INVITE-SDP c=127\.0\.0\.1 m=48\d{3}/);
    expect(r.uacLog).toMatch(/200-SDP c=127\.0\.0\.1 m=48\d{3}/);
    expect((await admin('modify media resume relay')).text).toBe('OK\n');
  }, 60_000);
});
