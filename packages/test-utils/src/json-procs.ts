/**
 * Node processes for the clusterer's real-TCP tests and benchmarks: a runner script started
 * with a JSON config, whose stdout is one JSON object per line; waits are bounded, processes are
 * stopped by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { until } from './until.js';

export interface JsonProc {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** Called after each line. */
  listeners: Set<() => void>;
}

/** Starts `script` with the JSON config as its argument and collects its JSON lines. */
export function startJsonProcess(script: string, cfg: Record<string, unknown>): JsonProc {
  // SIPEDGE_PROFILE_DIR: every child writes a V8 CPU profile there (for benchmarks)
  const profile = process.env.SIPEDGE_PROFILE_DIR;
  const flags = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
  const child = spawn(process.execPath, [...flags, script, JSON.stringify(cfg)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const p: JsonProc = { child, lines: [], listeners: new Set() };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
    try {
      p.lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      return;
    }
    for (const l of p.listeners) l();
  });
  return p;
}

/** The first line (already seen or still to come) matching `pred`, within `ms`. */
export function waitForLine(
  p: JsonProc,
  pred: (l: Record<string, unknown>) => boolean,
  ms = 20_000,
): Promise<Record<string, unknown>> {
  return until(() => p.lines.find(pred), {
    what: () => `a line matching ${pred}; saw ${JSON.stringify(p.lines.slice(-5))}`,
    timeoutMs: ms,
    wake: (recheck) => {
      p.listeners.add(recheck);
      return () => p.listeners.delete(recheck);
    },
  });
}

/** Sends `sig` by pid and resolves when the process has exited. */
export function killJsonProcess(p: JsonProc, sig: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
    p.child.once('exit', () => resolve());
    if (p.child.pid !== undefined) process.kill(p.child.pid, sig);
  });
}

/**
 * The runner processes of one test file: `start` them as the test goes, `stopAll()` in its
 * `afterEach`.
 */
export class JsonProcesses {
  readonly #script: string;
  readonly #running: JsonProc[] = [];

  constructor(script: string) {
    this.#script = script;
  }

  start(cfg: Record<string, unknown>): JsonProc {
    const p = startJsonProcess(this.#script, cfg);
    this.#running.push(p);
    return p;
  }

  /** SIGKILLs every process started (a SIGSTOPped one is continued first) and waits for each. */
  async stopAll(): Promise<void> {
    await Promise.all(
      this.#running.splice(0).map((p) => {
        if (p.child.pid !== undefined && p.child.exitCode === null) {
          try {
            process.kill(p.child.pid, 'SIGCONT');
          } catch {
            // already gone
          }
        }
        return killJsonProcess(p, 'SIGKILL');
      }),
    );
  }
}
