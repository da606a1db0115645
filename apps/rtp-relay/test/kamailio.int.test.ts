/**
 * Interop: Kamailio 5.6 with its rtpproxy module drives sipedge-rtp-relay while sipp places one
 * call through it (INVITE with SDP, 200 with SDP, ACK, BYE). Needs /usr/sbin/kamailio and
 * /usr/bin/sipp (Debian packages kamailio and sip-tester); fails when either is missing.
 *
 * Set UPDATE_FIXTURES=1 to rewrite test/fixtures/kamailio-5.6.3-commands.txt from a run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SIPP_UAC, SIPP_UAS } from '@sipedge/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { type RelayProcess, startRelayProcess, within } from './helpers.js';

const KAMAILIO = '/usr/sbin/kamailio';
const SIPP = '/usr/bin/sipp';
const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const TRANSCRIPT = path.join(FIXTURES, 'kamailio-5.6.3-commands.txt');
const CALL_ID = 'sipedge-interop-1@127.0.0.1';
/** The relay binds media on a loopback address other than the one sipp and Kamailio use. */
const MEDIA_IP = '127.0.0.2';

/** A UDP port free right now on 127.0.0.1 (the kernel picks it; we release it at once). */
async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Resolves once something has bound 127.0.0.1:port over UDP (our own bind then fails). */
async function waitUdpBound(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const taken = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(true));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
    if (taken) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing bound udp 127.0.0.1:${port} within ${ms} ms`);
}

function kamailioConfig(sipPort: number, relayPort: number, uasPort: number): string {
  return `#!KAMAILIO
debug=2
log_stderror=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:${sipPort}

mpath="${MODULES}/"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "maxfwd.so"
loadmodule "rtpproxy.so"

modparam("rtpproxy", "rtpproxy_sock", "udp:127.0.0.1:${relayPort}")

request_route {
  if (!mf_process_maxfwd_header("10")) {
    sl_send_reply("483", "Too Many Hops");
    exit;
  }
  if (has_totag()) {
    loose_route();
  } else if (is_method("INVITE")) {
    record_route();
  }
  if (is_method("INVITE|BYE")) {
    rtpproxy_manage();
  }
  t_on_reply("MANAGE_REPLY");
  $du = "sip:127.0.0.1:${uasPort}";
  if (!t_relay()) {
    sl_reply_error();
  }
  exit;
}

onreply_route[MANAGE_REPLY] {
  if (has_body("application/sdp")) {
    rtpproxy_manage();
  }
}
`;
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function run(cmd: string, args: string[], options: { cwd: string; group?: boolean }): Proc {
  const child = spawn(cmd, args, {
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group === true,
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  return { child, output: () => out, exit };
}

/** SIGTERM (the whole process group for Kamailio, whose workers are its children), then SIGKILL. */
async function stop(p: Proc | undefined, group = false): Promise<void> {
  if (p === undefined || p.child.pid === undefined) return;
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const target = group ? -p.child.pid : p.child.pid;
  try {
    process.kill(target, 'SIGTERM');
    await within(5000, 'process exit', (done) => {
      void p.exit.then(done);
      return () => {};
    });
  } catch {
    try {
      process.kill(target, 'SIGKILL');
    } catch {}
  }
}

/** A logged UDP command with its cookie replaced by `<cookie>`. */
function normalise(line: { command?: unknown }): string {
  return `<cookie> ${String(line.command)}`;
}

describe('Kamailio 5.6 rtpproxy module against sipedge-rtp-relay', () => {
  let relay: RelayProcess | undefined;
  let kamailio: Proc | undefined;
  let uas: Proc | undefined;
  let uac: Proc | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-kamailio-'));

  afterAll(async () => {
    await stop(uac);
    await stop(uas);
    await stop(kamailio, true);
    await relay?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates, answers and deletes the session of a sipp call; the SDP carries the relay', async () => {
    for (const bin of [KAMAILIO, SIPP]) {
      if (!fs.existsSync(bin))
        throw new Error(`${bin} is missing: apt-get install kamailio sip-tester`);
    }
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
    const sipPort = await freeUdpPort();
    const uasPort = await freeUdpPort();
    const uacPort = await freeUdpPort();
    const cfg = path.join(dir, 'kamailio.cfg');
    fs.writeFileSync(cfg, kamailioConfig(sipPort, relayPort, uasPort));
    kamailio = run(
      KAMAILIO,
      ['-DD', '-E', '-f', cfg, '-Y', dir, '-w', dir, '-m', '32', '-M', '8'],
      {
        cwd: dir,
        group: true,
      },
    );
    // Kamailio probes the relay (V, then VF per date) from every process as it starts
    await relay
      .waitLog((x) => x.event === 'command' && x.command === 'VF 20081102', 15_000)
      .catch((e) => {
        throw new Error(`${(e as Error).message}\nkamailio output:\n${kamailio?.output()}`);
      });
    await waitUdpBound(sipPort, 10_000);

    const common = [
      '-i',
      '127.0.0.1',
      '-m',
      '1',
      '-nostdin',
      '-trace_logs',
      '-timeout',
      '20s',
      '-timeout_error',
    ];
    uas = run(
      SIPP,
      [
        '-sf',
        SIPP_UAS,
        '-p',
        String(uasPort),
        '-mp',
        String(await freeUdpPort()),
        ...common,
        '-log_file',
        path.join(dir, 'uas.log'),
      ],
      { cwd: dir },
    );
    await waitUdpBound(uasPort, 10_000);
    uac = run(
      SIPP,
      [
        '-sf',
        SIPP_UAC,
        '-p',
        String(uacPort),
        '-mp',
        String(await freeUdpPort()),
        ...common,
        '-log_file',
        path.join(dir, 'uac.log'),
        // sipp matches replies by the Call-ID it generated; make it a fixed one
        '-cid_str',
        'sipedge-interop-1@%s',
        `127.0.0.1:${sipPort}`,
      ],
      { cwd: dir },
    );
    const [uacCode, uasCode] = await within<(number | null)[]>(
      30_000,
      'both sipp runs to end',
      (done) => {
        void Promise.all([uac!.exit, uas!.exit]).then(done);
        return () => {};
      },
    );
    const diag = `\nuac:\n${uac.output().slice(-2000)}\nuas:\n${uas.output().slice(-2000)}\nkamailio:\n${kamailio.output().slice(-3000)}`;
    expect(uacCode, diag).toBe(0);
    expect(uasCode, diag).toBe(0);

    // the relay saw U, L and D for this call, in that order
    await relay.waitLog((x) => x.event === 'deleted' && x.callId === CALL_ID, 5000);
    const commands = relay.logs.filter((x) => x.event === 'command');
    const call = commands.filter((x) => String(x.command).includes(CALL_ID));
    expect(call.map((x) => String(x.command)[0])).toEqual(['U', 'L', 'D']);
    const created = relay.logs.find((x) => x.event === 'created' && x.callId === CALL_ID)!;
    const [callerPort, calleePort] = created.ports as [number, number];

    // the SDP Kamailio forwarded carries the relay's address and the ports it answered
    const uasLog = fs.readFileSync(path.join(dir, 'uas.log'), 'utf8');
    const uacLog = fs.readFileSync(path.join(dir, 'uac.log'), 'utf8');
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
