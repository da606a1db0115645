/**
 * What every process the harness starts shares: where the built programs are, the safety net
 * that kills them when the test process exits, and the tail of their output for a failure.
 */
import type { Proc } from '@sipedge/test-utils';

/** The repository root (this file runs from src/ under vitest and from dist/src/ when built). */
export const ROOT = new URL(
  import.meta.url.includes('/dist/') ? '../../../' : '../../',
  import.meta.url,
);

/**
 * Safety net for processes a test started: when the test process exits (a vitest timeout
 * abandons the test body, so its `await using` never runs), every tracked process still alive
 * is SIGKILLed by pid (by process group with `group`).
 */
const live = new Map<Proc, boolean>();
let exitHooked = false;
export function stopOnExit(p: Proc, group = false): void {
  live.set(p, group);
  void p.exit.then(() => live.delete(p));
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const [q, g] of live) {
      try {
        process.kill(g ? -q.pid : q.pid, 'SIGKILL');
      } catch {}
    }
  });
}

export function tail(text: string, lines: number): string {
  const all = text.split('\n');
  return all.slice(Math.max(0, all.length - lines - 1)).join('\n');
}
