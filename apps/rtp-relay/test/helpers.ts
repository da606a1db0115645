/**
 * Test helpers: start the built relay bin, wait for events with bounded timeouts, talk UDP.
 * Every process started here is stopped by its pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../dist/src/bin.js', import.meta.url));

export { within } from '@sipedge/test-utils';

import { until, within } from '@sipedge/test-utils';

export interface RelayProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The ready line's control sockets, e.g. `udp:127.0.0.1:40123`. */
  readonly control: string[];
  /** Parsed JSON log lines so far (stderr). */
  readonly logs: Record<string, unknown>[];
  /** Resolves the first log line (past or future) that satisfies `pred`. */
  waitLog(
    pred: (l: Record<string, unknown>) => boolean,
    ms?: number,
  ): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

export async function startRelayProcess(args: string[], readyMs = 10_000): Promise<RelayProcess> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npx tsc -b apps/rtp-relay first`);
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('spawn failed');
  const logs: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  let errBuf = '';
  child.stderr!.on('data', (d: Buffer) => {
    errBuf += d.toString();
    for (let nl = errBuf.indexOf('\n'); nl >= 0; nl = errBuf.indexOf('\n')) {
      const line = errBuf.slice(0, nl);
      errBuf = errBuf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ text: line });
      }
    }
    for (const l of listeners) l();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  let out = '';
  let ready: string;
  try {
    ready = await within<string>(readyMs, 'the relay ready line', (done) => {
      const onData = (d: Buffer): void => {
        out += d.toString();
        const m = /sipedge-rtp-relay ready (.*)\n/.exec(out);
        if (m) done(m[1]!);
      };
      const onExit = (code: number | null): void => done(`exit ${code}`);
      child.stdout!.on('data', onData);
      child.once('exit', onExit);
      return () => {
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
      };
    });
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  if (ready.startsWith('exit')) {
    throw new Error(
      `relay exited before ready (${ready}): ${logs.map((l) => JSON.stringify(l)).join('\n')}`,
    );
  }
  const control = (/control=(\S+)/.exec(ready)?.[1] ?? '').split(',');
  return {
    child,
    pid,
    control,
    logs,
    waitLog(pred, ms = 5000) {
      return until(() => logs.find(pred), {
        what: `a log line matching ${pred}`,
        timeoutMs: ms,
        wake: (recheck) => {
          listeners.add(recheck);
          return () => listeners.delete(recheck);
        },
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      process.kill(pid, 'SIGTERM');
      try {
        return await within(5000, 'relay exit', (done) => {
          void exited.then(done);
          return () => {};
        });
      } catch (e) {
        process.kill(pid, 'SIGKILL');
        throw e;
      }
    },
  };
}

/** A UDP socket on 127.0.0.1 (port 0 unless given) that queues what it receives. */
export async function udpEndpoint(port = 0) {
  const sock = dgram.createSocket('udp4');
  const got: { data: string; port: number }[] = [];
  const waiters = new Set<() => void>();
  sock.on('message', (m, r) => {
    got.push({ data: m.toString('latin1'), port: r.port });
    for (const w of waiters) w();
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, '127.0.0.1', () => resolve());
  });
  return {
    sock,
    port: sock.address().port,
    got,
    send(to: number, data: string): void {
      sock.send(Buffer.from(data, 'latin1'), to, '127.0.0.1');
    },
    /** Next datagram whose text satisfies `pred`. */
    receive(pred: (d: { data: string; port: number }) => boolean, ms = 3000) {
      return within<{ data: string; port: number }>(ms, 'a datagram', (done) => {
        const check = (): void => {
          const i = got.findIndex(pred);
          if (i >= 0) done(got.splice(i, 1)[0]!);
        };
        waiters.add(check);
        check();
        return () => waiters.delete(check);
      });
    },
    close(): void {
      sock.close();
    },
  };
}
