/**
 * Interop: Kamailio 5.6 with its rtpproxy module drives sipedge-rtp-relay while sipp places one
 * call through it (INVITE with SDP, 200 with SDP, ACK, BYE). Needs /usr/sbin/kamailio and
 * /usr/bin/sipp (Debian packages kamailio and sip-tester); fails when either is missing.
 *
 * Set UPDATE_FIXTURES=1 to rewrite test/fixtures/kamailio-5.6.3-commands.txt from a run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  KAMAILIO,
  kamailioRtpproxyConfig,
  type Proc,
  peerPort,
  requirePeer,
  runSippCall,
  SIPP,
  startKamailio,
  waitUdpBound,
} from '@sipedge/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { type RelayProcess, startRelayProcess } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const TRANSCRIPT = path.join(FIXTURES, 'kamailio-5.6.3-commands.txt');
const CALL_ID = 'sipedge-interop-1@127.0.0.1';
/** The relay binds media on a loopback address other than the one sipp and Kamailio use. */
const MEDIA_IP = '127.0.0.2';

/** A logged UDP command with its cookie replaced by `<cookie>`. */
function normalise(line: { command?: unknown }): string {
  return `<cookie> ${String(line.command)}`;
}

describe('Kamailio 5.6 rtpproxy module against sipedge-rtp-relay', () => {
  let relay: RelayProcess | undefined;
  let kamailio: Proc | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-kamailio-'));

  afterAll(async () => {
    await kamailio?.stop();
    await relay?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates, answers and deletes the session of a sipp call; the SDP carries the relay', async () => {
    requirePeer(KAMAILIO);
    requirePeer(SIPP);
    relay = await startRelayProcess([
      '-s',
      'udp:127.0.0.1:0',
      '-l',
      MEDIA_IP,
      '-m',
      '46000',
      '-M',
      '46999',
      '--log-level',
      'debug',
    ]);
    const relayPort = Number(relay.control[0]!.split(':').pop());
    const sipPort = await peerPort();
    const uasPort = await peerPort();
    const cfg = path.join(dir, 'kamailio.cfg');
    fs.writeFileSync(
      cfg,
      kamailioRtpproxyConfig({ sipPort, rtpproxySock: `udp:127.0.0.1:${relayPort}`, uasPort }),
    );
    kamailio = startKamailio(dir, cfg);
    // Kamailio probes the relay (V, then VF per date) from every process as it starts
    await relay
      .waitLog((x) => x.event === 'command' && x.command === 'VF 20081102', 15_000)
      .catch((e) => {
        throw new Error(`${(e as Error).message}\nkamailio output:\n${kamailio?.output()}`);
      });
    await waitUdpBound(sipPort, 10_000);

    const sipp = await runSippCall({
      dir,
      proxyPort: sipPort,
      uasPort,
      callIdPrefix: 'sipedge-interop-1',
    });
    const diag = `${sipp.diagnostics}\nkamailio:\n${kamailio.output().slice(-3000)}`;
    expect(sipp.uacCode, diag).toBe(0);
    expect(sipp.uasCode, diag).toBe(0);

    // the relay saw U, L and D for this call, in that order
    await relay.waitLog((x) => x.event === 'deleted' && x.callId === CALL_ID, 5000);
    const commands = relay.logs.filter((x) => x.event === 'command');
    const call = commands.filter((x) => String(x.command).includes(CALL_ID));
    expect(call.map((x) => String(x.command)[0])).toEqual(['U', 'L', 'D']);
    const created = relay.logs.find((x) => x.event === 'created' && x.callId === CALL_ID)!;
    const [callerPort, calleePort] = created.ports as [number, number];

    // the SDP Kamailio forwarded carries the relay's address and the ports it answered
    const { uasLog, uacLog } = sipp;
    expect(uasLog).toContain(`INVITE-SDP c=${MEDIA_IP} m=${calleePort}`);
    expect(uacLog).toContain(`200-SDP c=${MEDIA_IP} m=${callerPort}`);

    // the exact command lines, cookies normalised: the distinct probes, then the call
    const probes = [
      ...new Set(commands.filter((x) => /^VF?( |$)/.test(String(x.command))).map(normalise)),
    ].sort();
    const transcript = [
      '# rtpproxy commands Kamailio 5.6.3 (rtpproxy_manage) sent to sipedge-rtp-relay; cookies replaced by <cookie>',
      '# startup probes (distinct, sorted; every Kamailio process sends them)',
      ...probes,
      '# one call: INVITE with SDP, 200 OK with SDP, BYE',
      ...call.map(normalise),
      '',
    ].join('\n');
    if (process.env.UPDATE_FIXTURES === '1') fs.writeFileSync(TRANSCRIPT, transcript);
    expect(transcript).toBe(fs.readFileSync(TRANSCRIPT, 'utf8'));

    // Kamailio's cookies are <pid>_<counter>
    for (const c of commands) expect(String(c.cookie)).toMatch(/^\d+_\d+$/);
    expect(await relay.stop()).toBe(0);
  }, 60_000);
});
