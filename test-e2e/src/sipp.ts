/**
 * sipp REGISTER load against an address: one user of its own per call
 * (`<prefix><call_number>@e2e.test`), at a fixed rate. sipp logs every 200 as `OK <user>`, so
 * the caller gets the exact set of acknowledged registrations. Fails loudly when sipp is
 * missing; the process is stopped by pid.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeUdpPort, type Proc, requirePeer, runProcess, SIPP } from '@sipedge/test-utils';
import type { Address } from './cluster.js';

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

export async function startRegisterLoad(o: RegisterLoadOptions): Promise<RegisterLoad> {
  requirePeer(SIPP);
  const prefix = o.prefix ?? 'u';
  const logFile = join(o.dir, `register-${prefix}.log`);
  const proc = runProcess(
    SIPP,
    [
      '-sf',
      SIPP_REGISTER,
      '-i',
      '127.0.0.1',
      '-p',
      String(await freeUdpPort()),
      '-t',
      o.transport ?? 'u1',
      '-m',
      String(o.count),
      '-r',
      String(o.rate),
      ...(o.limit === undefined ? [] : ['-l', String(o.limit)]),
      '-key',
      'user_prefix',
      prefix,
      '-key',
      'expires',
      String(o.expires ?? 3600),
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
