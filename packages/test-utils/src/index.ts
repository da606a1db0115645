/**
 * What sipedge's tests share: real peers on loopback (Node bins, Kamailio, rtpengine, sipp),
 * waited for by what they print or bind and stopped by pid (Kamailio by process group);
 * `until()`, the one bounded wait for a condition; `peerPort()`, ports for programs that cannot
 * listen on port 0; and the timeout of tests on a virtual clock. A missing peer binary throws,
 * it never skips.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peerPort } from './ports.js';
import { until } from './until.js';

export const KAMAILIO = '/usr/sbin/kamailio';
export const KAMAILIO_MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';
export const SIPP = '/usr/bin/sipp';
export const RTPENGINE = '/usr/bin/rtpengine';

/** sipp scenarios: a UAC placing one call with SDP, a UAS answering with SDP; both log the SDP seen. */
const PACKAGE = new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url);
export const SIPP_UAC = fileURLToPath(new URL('fixtures/sipp-uac.xml', PACKAGE));
export const SIPP_UAS = fileURLToPath(new URL('fixtures/sipp-uas.xml', PACKAGE));

/** A port for sipp's `-mp`: sipp binds it for audio and the port two above it for video. */
export function sippMediaPort(): Promise<number> {
  return peerPort({ span: 3 });
}

/** Throws with the Debian package to install when a peer binary is missing. */
export function requirePeer(bin: string): void {
  if (!existsSync(bin)) {
    const pkg = { [KAMAILIO]: 'kamailio', [SIPP]: 'sip-tester', [RTPENGINE]: 'rtpengine-daemon' }[
      bin
    ];
    throw new Error(`${bin} is missing: apt-get install ${pkg ?? bin} (npm run peers)`);
  }
}

/** Resolves what `start` reports, or rejects after `ms`. `start` returns its cleanup. */
export function within<T>(
  ms: number,
  what: string,
  start: (done: (v: T) => void) => () => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let cleanup: () => void = () => {};
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    cleanup = start((v) => {
      clearTimeout(timer);
      cleanup();
      resolve(v);
    });
  });
}

/** Resolves once something has bound 127.0.0.1:port over UDP (our own bind then fails). */
export async function waitUdpBound(port: number, ms: number): Promise<void> {
  const bound = (): Promise<boolean> =>
    new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(true));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
  await until(bound, {
    what: `something to bind udp 127.0.0.1:${port}`,
    timeoutMs: ms,
    intervalMs: 50,
  });
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  readonly exit: Promise<number | null>;
  /** SIGTERM (the process group with `group`), SIGKILL after 5 s; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a program; `group` makes it a process-group leader so its children stop with it. */
export function runProcess(
  cmd: string,
  args: string[],
  options: { cwd?: string; group?: boolean; env?: NodeJS.ProcessEnv } = {},
): Proc {
  const child = spawn(cmd, args, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group === true,
  });
  if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
  const pid = child.pid;
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
  const target = options.group === true ? -pid : pid;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    try {
      process.kill(target, signal);
    } catch {
      return child.exitCode;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(target, 'SIGKILL');
      } catch {}
    }, 5000);
    const code = await exit;
    clearTimeout(timer);
    return code;
  };
  return { child, pid, output: () => out, exit, stop };
}

/** Runs a Node bin and waits for `ready` in its output; the first group is returned. */
export async function startNodeBin(
  bin: string,
  args: string[],
  ready: RegExp,
  ms = 15_000,
): Promise<Proc & { ready: string }> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build first (npx tsc -b)`);
  const profile = process.env.SIPEDGE_PROFILE_DIR;
  const node = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
  const p = runProcess(process.execPath, [...node, bin, ...args]);
  try {
    const match = await until(
      () => {
        const m = ready.exec(p.output());
        if (m !== null) return { ready: m[1] ?? '' };
        return p.child.exitCode !== null || p.child.signalCode !== null ? 'exited' : undefined;
      },
      {
        what: `${bin} to be ready (${ready})`,
        timeoutMs: ms,
        wake: (recheck) => onOutput(p, recheck),
      },
    );
    if (match === 'exited') throw new Error(`${bin} exited before it was ready:\n${p.output()}`);
    return Object.assign(p, match);
  } catch (err) {
    await p.stop('SIGKILL');
    throw err;
  }
}

/** Calls `listener` after each chunk `p` prints and when it exits; returns the unsubscribe. */
function onOutput(p: Proc, listener: () => void): () => void {
  p.child.stdout?.on('data', listener);
  p.child.stderr?.on('data', listener);
  p.child.on('exit', listener);
  return () => {
    p.child.stdout?.off('data', listener);
    p.child.stderr?.off('data', listener);
    p.child.off('exit', listener);
  };
}

/** Resolves once the rtpproxy-protocol program `p` answers V on 127.0.0.1:port. */
async function answersVersion(p: Proc, port: number, ms: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  let answered = false;
  socket.on('message', (m) => {
    if (/^v\d+ 20040107\s*$/.test(m.toString('latin1'))) answered = true;
  });
  socket.on('error', () => {}); // nothing listens yet: the kernel may report it
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  let cookie = 0;
  try {
    const state = await until(
      () => {
        if (answered) return 'answered';
        if (p.child.exitCode !== null || p.child.signalCode !== null) return 'exited';
        socket.send(`v${++cookie} V\n`, port, '127.0.0.1');
        return false;
      },
      { what: `V answered on udp:127.0.0.1:${port}`, timeoutMs: ms, intervalMs: 100 },
    );
    if (state === 'exited') throw new Error('exited before answering V');
  } finally {
    socket.close();
  }
}

/** rtpengine answering the rtpproxy protocol on `127.0.0.1:<port>` (`--listen-udp`). */
export async function startRtpengine(options: {
  dir: string;
  portMin: number;
  portMax: number;
}): Promise<Proc & { spec: string }> {
  requirePeer(RTPENGINE);
  const port = await peerPort();
  const p = runProcess(RTPENGINE, [
    '--config-file=none',
    '--interface=127.0.0.1',
    `--listen-udp=127.0.0.1:${port}`,
    '--foreground',
    `--pidfile=${join(options.dir, `rtpengine-${port}.pid`)}`,
    '--table=-1',
    `--port-min=${options.portMin}`,
    `--port-max=${options.portMax}`,
    '--log-stderr',
    '--log-level=5',
    '--num-threads=1',
    '--delete-delay=0',
  ]);
  try {
    await answersVersion(p, port, 20_000);
    return Object.assign(p, { spec: `udp:127.0.0.1:${port}` });
  } catch (err) {
    await p.stop('SIGKILL');
    throw new Error(`rtpengine: ${(err as Error).message}\n${p.output()}`, { cause: err });
  }
}

/**
 * A Kamailio configuration that anchors media with its rtpproxy module
 * (`rtpproxy_manage()` on INVITE, BYE and replies with SDP) and relays every request to the UAS.
 */
export function kamailioRtpproxyConfig(options: {
  sipPort: number;
  /** One rtpproxy socket, or several separated by spaces (Kamailio's own rtpproxy set). */
  rtpproxySock: string;
  uasPort: number;
  /** SIP worker processes (1 unless told: the tests need no more). */
  children?: number;
  /** Kamailio's log level (2 unless told). */
  debug?: number;
}): string {
  return `#!KAMAILIO
debug=${options.debug ?? 2}
log_stderror=yes
children=${options.children ?? 1}
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:${options.sipPort}

mpath="${KAMAILIO_MODULES}/"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "maxfwd.so"
loadmodule "rtpproxy.so"

modparam("rtpproxy", "rtpproxy_sock", "${options.rtpproxySock}")

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
  $du = "sip:127.0.0.1:${options.uasPort}";
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

/** Starts Kamailio in the foreground with a config file; stop() stops its whole process group. */
export function startKamailio(dir: string, configFile: string): Proc {
  requirePeer(KAMAILIO);
  return runProcess(
    KAMAILIO,
    ['-DD', '-E', '-f', configFile, '-Y', dir, '-w', dir, '-m', '32', '-M', '8'],
    {
      cwd: dir,
      group: true,
    },
  );
}

export interface SippCallResult {
  readonly uacCode: number | null;
  readonly uasCode: number | null;
  readonly uacLog: string;
  readonly uasLog: string;
  /** Both outputs and logs, for assertion messages. */
  readonly diagnostics: string;
}

/**
 * One sipp call (INVITE with SDP, 200 with SDP, ACK, BYE) from a UAC through `proxyPort` to a
 * UAS on `uasPort`, with a fixed Call-ID `<callIdPrefix>@127.0.0.1`. Waits for both to end.
 */
export async function runSippCall(options: {
  dir: string;
  proxyPort: number;
  uasPort: number;
  callIdPrefix: string;
  timeoutMs?: number;
}): Promise<SippCallResult> {
  requirePeer(SIPP);
  const { dir } = options;
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
  const uas = runProcess(
    SIPP,
    [
      '-sf',
      SIPP_UAS,
      '-p',
      String(options.uasPort),
      '-mp',
      String(await sippMediaPort()),
      ...common,
      '-log_file',
      join(dir, 'uas.log'),
    ],
    { cwd: dir },
  );
  let uac: Proc | undefined;
  try {
    await waitUdpBound(options.uasPort, 10_000).catch((err: Error) => {
      throw new Error(`${err.message}: sipp UAS said:\n${uas.output().slice(-2000)}`);
    });
    uac = runProcess(
      SIPP,
      [
        '-sf',
        SIPP_UAC,
        '-p',
        String(await peerPort()),
        '-mp',
        String(await sippMediaPort()),
        ...common,
        '-log_file',
        join(dir, 'uac.log'),
        '-cid_str',
        `${options.callIdPrefix}@%s`,
        `127.0.0.1:${options.proxyPort}`,
      ],
      { cwd: dir },
    );
    const u = uac;
    const [uacCode, uasCode] = await within<(number | null)[]>(
      options.timeoutMs ?? 30_000,
      'both sipp runs to end',
      (done) => {
        void Promise.all([u.exit, uas.exit]).then(done);
        return () => {};
      },
    );
    const read = (f: string) => {
      try {
        return readFileSync(join(dir, f), 'utf8');
      } catch {
        return '';
      }
    };
    const uacLog = read('uac.log');
    const uasLog = read('uas.log');
    return {
      uacCode: uacCode ?? null,
      uasCode: uasCode ?? null,
      uacLog,
      uasLog,
      diagnostics: `\nuac:\n${u.output().slice(-2000)}\nuas:\n${uas.output().slice(-2000)}`,
    };
  } finally {
    await uac?.stop();
    await uas.stop();
  }
}

export * from './json-procs.js';
export * from './ports.js';
export * from './proc-cpu.js';
export * from './redis.js';
export * from './timeouts.js';
export * from './tls.js';
export * from './until.js';
