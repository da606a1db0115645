/**
 * Runs the `ha.on_active` / `ha.on_backup` commands; `ServiceAddress` (wiring/ha.ts) calls it on
 * each change of the HA sharing tag.
 *
 * A hook runs through /bin/sh with the tag, state and service address in its environment
 * (`SIPEDGE_SHARING_TAG`, `SIPEDGE_HA_STATE`, `SIPEDGE_SERVICE_ADDRESS`,
 * `SIPEDGE_SERVICE_HOST`, `SIPEDGE_SERVICE_PORT`). It is bounded in time (killed after
 * `timeoutMs`) and in output (the first 4 KiB are kept for the log). It never throws: the
 * outcome is returned and logged.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '@sipedge/core';
import { parseAddress } from './config.js';

export interface HookOutcome {
  readonly command: string;
  /** Exit code, or null when killed by a signal (e.g. on timeout). */
  readonly code: number | null;
  readonly timedOut: boolean;
  /** First 4 KiB of stdout and stderr together. */
  readonly output: string;
}

const MAX_OUTPUT = 4096;

export function runHaHook(
  command: string,
  context: { state: 'active' | 'backup'; sharingTag: string; serviceAddress: string },
  options: { timeoutMs?: number; logger?: Pick<Logger, 'info' | 'error'> } = {},
): Promise<HookOutcome> {
  const { host, port } = parseAddress(context.serviceAddress);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        SIPEDGE_SHARING_TAG: context.sharingTag,
        SIPEDGE_HA_STATE: context.state,
        SIPEDGE_SERVICE_ADDRESS: context.serviceAddress,
        SIPEDGE_SERVICE_HOST: host,
        SIPEDGE_SERVICE_PORT: String(port),
      },
    });
    let output = '';
    const collect = (d: Buffer) => {
      if (output.length < MAX_OUTPUT) output = (output + d.toString()).slice(0, MAX_OUTPUT);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const finish = (code: number | null) => {
      clearTimeout(timer);
      const outcome: HookOutcome = { command, code, timedOut, output };
      const log = { hook: `on_${context.state}`, ...outcome };
      if (code === 0) options.logger?.info(log, `ha hook on_${context.state} done`);
      else options.logger?.error(log, `ha hook on_${context.state} failed`);
      resolve(outcome);
    };
    child.once('error', () => finish(null));
    child.once('close', (code) => finish(code));
  });
}
