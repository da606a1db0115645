import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerPort, sippMediaPort } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from './support/proxy.js';
import { startUas } from './support/uas.js';

/** sipp on PATH (Debian sip-tester puts it in /usr/bin). */
function findSipp(): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin').split(':')) {
    if (dir !== '' && existsSync(join(dir, 'sipp'))) return join(dir, 'sipp');
  }
  return existsSync('/usr/bin/sipp') ? '/usr/bin/sipp' : undefined;
}
const SIPP = findSipp() ?? 'sipp';

interface Run {
  readonly pid: number;
  readonly done: Promise<number | null>;
}

/** Starts sipp; `done` resolves to its exit code, or it is killed by pid after `ms`. */
function sipp(args: string[], cwd: string, ms = 30_000): Run {
  const child = spawn(SIPP, [...args, '-nostdin', '-timeout', '20s', '-timeout_error'], {
    cwd,
    stdio: 'ignore',
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('sipp did not start');
  const done = new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      process.kill(pid, 'SIGKILL');
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  return { pid, done };
}

/** sipp's built-in UAC from a fresh port: `calls` calls of 100 ms to `target`, 10 a second. */
async function uac(target: string, calls: number, cwd: string, extra: string[] = []): Promise<Run> {
  const [p, mp] = [await peerPort(), await sippMediaPort()];
  const args = ['-i', '127.0.0.1', '-p', String(p), '-mp', String(mp), '-m', String(calls)];
  return sipp(['-sn', 'uac', target, ...extra, ...args, '-r', '10', '-d', '100'], cwd);
}

describe('interop with sipp (Debian sip-tester)', () => {
  let cwd: string;
  beforeAll(() => {
    if (!existsSync(SIPP))
      throw new Error(
        `sipp is required for this test: install Debian sip-tester (${SIPP} missing)`,
      );
    cwd = mkdtempSync(join(tmpdir(), 'sipp-'));
  });
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it("sipp's UAC scenario completes calls against a UAS built on the package", async () => {
    const uas = await startUas();
    try {
      const run = await uac(`127.0.0.1:${uas.port}`, 3, cwd);
      expect(await run.done).toBe(0);
      expect(uas.stats).toEqual({ invites: 3, acks: 3, byes: 3 });
    } finally {
      await uas.close();
    }
  });

  it("sipp's UAC scenario over TCP (-t t1) completes calls against the UAS on TCP", async () => {
    const uas = await startUas('127.0.0.1', 'TCP');
    try {
      const run = await uac(`127.0.0.1:${uas.port}`, 3, cwd, ['-t', 't1']);
      expect(await run.done).toBe(0);
      expect(uas.stats).toEqual({ invites: 3, acks: 3, byes: 3 });
    } finally {
      await uas.close();
    }
  });

  it("sipp's UAS scenario answers sipp's UAC through a stateful proxy built on the package", async () => {
    const [uasPort, uasMp] = [await peerPort(), await sippMediaPort()];
    const uas = sipp(
      ['-sn', 'uas', '-i', '127.0.0.1', '-p', String(uasPort), '-mp', String(uasMp), '-m', '2'],
      cwd,
    );
    const proxy = await startProxy({ transport: 'UDP', address: '127.0.0.1', port: uasPort });
    try {
      const calls = await uac(`127.0.0.1:${proxy.port}`, 2, cwd);
      expect(await calls.done).toBe(0);
      expect(await uas.done).toBe(0);
      // INVITE, ACK and BYE of each call went through the proxy
      expect(proxy.stats.requests).toBeGreaterThanOrEqual(6);
      expect(proxy.stats.stateless).toBeGreaterThanOrEqual(2);
    } finally {
      await proxy.close();
    }
  });
});
