/**
 * sipp REGISTER load against an address: one user of its own per call
 * (`<prefix><call_number>@e2e.test`), at a fixed rate. sipp logs every 200 as `OK <user>`, so
 * the caller gets the exact set of acknowledged registrations. Fails loudly when sipp is
 * missing; the process is stopped by pid. `sippRegisterRun` is the benchmarks' closed-loop
 * form, read from sipp's statistics file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Proc,
  peerPort,
  requirePeer,
  runProcess,
  SIPP,
  sippMediaPort,
  until,
  waitUdpBound,
} from '@sipedge/test-utils';
import type { Address } from './node.js';
import { stopOnExit } from './processes.js';

const PKG = new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url);
export const SIPP_REGISTER = fileURLToPath(new URL('fixtures/register.xml', PKG));

export interface RegisterLoadOptions {
  dir: string;
  target: Address;
  /** Registrations in all (`-m`). */
  count: number;
  /** REGISTERs started per second (`-r`). */
  rate: number;
  /** User names are `<prefix><n>` (default `u`). */
  prefix?: string;
  expires?: number;
  /** Transport: `u1` (UDP, one socket, default) or `t1` (TCP). */
  transport?: 'u1' | 't1';
  /** Most REGISTERs outstanding (`-l`, default sipp's). */
  limit?: number;
  /** Extra sipp arguments. */
  args?: string[];
}

export interface RegisterLoad {
  readonly proc: Proc;
  readonly logFile: string;
  /** Users whose REGISTER got a 200 so far (reads sipp's log). */
  acknowledged(): Set<string>;
  /**
   * Resolves with sipp's exit code and the acknowledged users when it ends; after `ms`
   * (default 120 s) sipp is stopped and this throws with the tail of its output.
   */
  done(ms?: number): Promise<{ code: number | null; ok: Set<string>; output: string }>;
  stop(): Promise<void>;
}

/**
 * sipp's arguments for the REGISTER scenario from a fresh local port: load, users and expiry
 * only (the caller adds logging and the target).
 */
export async function registerScenarioArgs(
  o: Pick<RegisterLoadOptions, 'count' | 'rate' | 'prefix' | 'expires' | 'transport' | 'limit'>,
): Promise<string[]> {
  return [
    '-sf',
    SIPP_REGISTER,
    '-i',
    '127.0.0.1',
    '-p',
    String(await peerPort()),
    '-t',
    o.transport ?? 'u1',
    '-m',
    String(o.count),
    '-r',
    String(o.rate),
    ...(o.limit === undefined ? [] : ['-l', String(o.limit)]),
    '-key',
    'user_prefix',
    o.prefix ?? 'u',
    '-key',
    'expires',
    String(o.expires ?? 3600),
  ];
}

export async function startRegisterLoad(o: RegisterLoadOptions): Promise<RegisterLoad> {
  requirePeer(SIPP);
  const prefix = o.prefix ?? 'u';
  const logFile = join(o.dir, `register-${prefix}.log`);
  const proc = runProcess(
    SIPP,
    [
      ...(await registerScenarioArgs(o)),
      '-aa',
      '-nostdin',
      '-trace_logs',
      '-log_file',
      logFile,
      '-recv_timeout',
      '30000',
      ...(o.args ?? []),
      `${o.target.host}:${o.target.port}`,
    ],
    { cwd: o.dir },
  );
  stopOnExit(proc);
  const acknowledged = (): Set<string> => {
    let text = '';
    try {
      text = readFileSync(logFile, 'utf8');
    } catch {
      return new Set();
    }
    const out = new Set<string>();
    for (const m of text.matchAll(/^OK (\S+)$/gm)) out.add(m[1] ?? '');
    return out;
  };
  return {
    proc,
    logFile,
    acknowledged,
    async done(ms = 120_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<'late'>((r) => {
        timer = setTimeout(() => r('late'), ms);
      });
      const code = await Promise.race([proc.exit, late]);
      clearTimeout(timer);
      if (code === 'late') {
        await proc.stop('SIGKILL');
        throw new Error(
          `sipp did not finish within ${ms} ms (${acknowledged().size} acknowledged):\n${proc.output().slice(-3000)}`,
        );
      }
      return { code, ok: acknowledged(), output: proc.output() };
    },
    async stop() {
      await proc.stop('SIGTERM');
    },
  };
}

/** What sipp's statistics file says of one closed-loop REGISTER run. */
export interface SippFigures {
  ok: number;
  failed: number;
  retrans: number;
  seconds: number;
  rate: number;
}

/**
 * The last line of a sipp `-trace_stat` file (`-stf`), read by column name: sipp's totals when
 * the run ended (`SuccessfulCall(C)`, `FailedCall(C)`, `Retransmissions(C)`…); NaN for a column
 * the file does not have.
 */
export function sippFinalStats(file: string): (column: string) => number {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const head = (lines[0] ?? '').split(';');
  const last = (lines[lines.length - 1] ?? '').split(';');
  return (column) => Number(last[head.indexOf(column)] ?? 'NaN');
}

/**
 * A closed-loop REGISTER run: sipp offers `rate`/s with at most `limit` outstanding, `count`
 * registrations of distinct users (over `transport`, default UDP); figures from sipp's own
 * statistics file. For benchmarks.
 */
export async function sippRegisterRun(
  dir: string,
  target: Address,
  o: Required<Pick<RegisterLoadOptions, 'count' | 'rate' | 'limit' | 'prefix'>> &
    Pick<RegisterLoadOptions, 'transport'>,
): Promise<SippFigures> {
  requirePeer(SIPP);
  const stat = join(dir, `stat-${o.prefix}.csv`);
  const started = process.hrtime.bigint();
  const p = runProcess(
    SIPP,
    [
      ...(await registerScenarioArgs(o)),
      '-nostdin',
      '-trace_stat',
      '-stf',
      stat,
      '-fd',
      '1',
      // the load generator's own socket needs room too: with the 208 KiB default, replies
      // that come in bursts (a registrar's group commit) overflow it and count as the
      // server's retransmissions (RcvbufErrors); both sides of every row get the same
      '-buff_size',
      '4194304',
      '-recv_timeout',
      '10000',
      `${target.host}:${target.port}`,
    ],
    { cwd: dir },
  );
  await p.exit;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const col = sippFinalStats(stat);
  const ok = col('SuccessfulCall(C)');
  return {
    ok,
    failed: col('FailedCall(C)'),
    retrans: col('Retransmissions(C)'),
    seconds,
    rate: ok / seconds,
  };
}

export const SIPP_CALL_UAC = fileURLToPath(new URL('fixtures/call-uac.xml', PKG));
export const SIPP_CALL_UAS = fileURLToPath(new URL('fixtures/call-uas.xml', PKG));

export interface SippCall {
  /** Resolves with the m=audio port of the SDP the UAS was offered (a relay port). */
  offerPort(ms?: number): Promise<number>;
  /** Resolves with the m=audio port of the 200 OK SDP the UAC got (a relay port). */
  answerPort(ms?: number): Promise<number>;
  /** Both sipp exit codes once the call has ended (BYE after a 4 s hold). */
  done(ms?: number): Promise<{ uac: number | null; uas: number | null; output: string }>;
  stop(): Promise<void>;
}

/**
 * One sipp call held for 4 s: a UAS on `uasPort` whose SDP names `uasRtpPort`, and a UAC sending
 * the INVITE to `proxy` with SDP naming `uacRtpPort` (both media ports are sockets the caller
 * owns, so RTP can be sent and received through whatever the SDPs were rewritten to).
 */
export async function startSippCall(o: {
  dir: string;
  proxy: Address;
  uasPort: number;
  uacRtpPort: number;
  uasRtpPort: number;
}): Promise<SippCall> {
  requirePeer(SIPP);
  const common = ['-i', '127.0.0.1', '-m', '1', '-nostdin', '-trace_logs', '-timeout', '30s'];
  const uasLog = join(o.dir, 'call-uas.log');
  const uacLog = join(o.dir, 'call-uac.log');
  const uas = runProcess(
    SIPP,
    [
      '-sf',
      SIPP_CALL_UAS,
      '-p',
      String(o.uasPort),
      '-mp',
      String(await sippMediaPort()),
      ...common,
      '-key',
      'rtp_port',
      String(o.uasRtpPort),
      '-log_file',
      uasLog,
    ],
    { cwd: o.dir },
  );
  stopOnExit(uas);
  await waitUdpBound(o.uasPort, 10_000);
  const uac = runProcess(
    SIPP,
    [
      '-sf',
      SIPP_CALL_UAC,
      '-p',
      String(await peerPort()),
      '-mp',
      String(await sippMediaPort()),
      ...common,
      '-key',
      'rtp_port',
      String(o.uacRtpPort),
      '-log_file',
      uacLog,
      `${o.proxy.host}:${o.proxy.port}`,
    ],
    { cwd: o.dir },
  );
  stopOnExit(uac);
  const portIn = async (file: string, re: RegExp, ms: number): Promise<number> => {
    const m = await until(() => re.exec(readFileSync(file, 'utf8')), {
      what: () =>
        `${re} in ${file}:\nuac:\n${uac.output().slice(-1500)}\nuas:\n${uas.output().slice(-1500)}`,
      timeoutMs: ms,
      intervalMs: 20,
    });
    return Number(m[1]);
  };
  return {
    offerPort: (ms = 10_000) => portIn(uasLog, /INVITE-SDP c=\S+ m=(\d+)/, ms),
    answerPort: (ms = 10_000) => portIn(uacLog, /200-SDP c=\S+ m=(\d+)/, ms),
    async done(ms = 30_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<'late'>((r) => {
        timer = setTimeout(() => r('late'), ms);
      });
      const r = await Promise.race([Promise.all([uac.exit, uas.exit]), late]);
      clearTimeout(timer);
      const output = `uac:\n${uac.output().slice(-2000)}\nuas:\n${uas.output().slice(-2000)}`;
      if (r === 'late') throw new Error(`the sipp call did not end within ${ms} ms\n${output}`);
      return { uac: r[0], uas: r[1], output };
    },
    async stop() {
      await uac.stop();
      await uas.stop();
    },
  };
}
