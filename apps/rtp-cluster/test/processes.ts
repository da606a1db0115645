/**
 * Real processes for the daemon's integration tests: sipedge-rtp-relay members and the
 * rtp-cluster daemon itself, started on loopback, waited for by their ready lines, stopped by
 * pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** apps/rtp-cluster, whether this file runs from test/ (vitest) or dist/test/ (benchmarks). */
const APP = new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url);
export const RELAY_BIN = fileURLToPath(new URL('../rtp-relay/dist/src/bin.js', APP));
export const DAEMON_BIN = fileURLToPath(new URL('dist/src/bin.js', APP));

export interface Proc {
  readonly pid: number;
  readonly child: ChildProcess;
  /** The first capture group of the ready pattern. */
  readonly ready: string;
  output(): string;
  /** SIGTERM (or the given signal), then SIGKILL after 5 s; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startProcess(
  bin: string,
  args: string[],
  readyPattern: RegExp,
  readyMs = 15_000,
): Promise<Proc> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build first (npx tsc -b)`);
  // SIPEDGE_PROFILE_DIR=/dir writes a V8 CPU profile of every process started here
  const profile = process.env.SIPEDGE_PROFILE_DIR;
  const node = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
  const child = spawn(process.execPath, [...node, bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`cannot start ${bin}`);
  const pid = child.pid;
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    process.kill(pid, signal);
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
    }, 5000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${bin}: no ready line within ${readyMs} ms; output:\n${out}`));
    }, readyMs);
    const check = () => {
      const m = readyPattern.exec(out);
      if (m !== null) {
        cleanup();
        resolve(m[1] ?? '');
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${bin} exited with ${code} before it was ready; output:\n${out}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout!.on('data', check);
    child.once('exit', onExit);
    check();
  }).catch(async (err: unknown) => {
    await stop('SIGKILL');
    throw err;
  });
  return { pid, child, ready, output: () => out, stop };
}

/** A relay on a free control port; resolves with its control socket spec. */
export async function startRelay(
  portMin: number,
  portMax: number,
): Promise<Proc & { spec: string }> {
  const p = await startProcess(
    RELAY_BIN,
    [
      '-s',
      'udp:127.0.0.1:0',
      '-m',
      String(portMin),
      '-M',
      String(portMax),
      '-T',
      '120',
      '--log-level',
      'warn',
    ],
    /sipedge-rtp-relay ready control=([^\s,]+)/,
  );
  return Object.assign(p, { spec: p.ready });
}

/** A UDP port nothing is bound to right now (bound, read and released). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
