/**
 * CPU time of processes, read from Linux's /proc: what the benchmarks charge to each program
 * (user + system, every thread unless one is named).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/** The fields of a `stat` file after the `(comm)` field: [0] is field 3 (state). */
function statFields(file: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return undefined; // the process (or thread) is gone
  }
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

const ticks = (f: string[]): number => Number(f[11]) + Number(f[12]);

/**
 * CPU seconds a process has used so far, every thread included; with `thread`, that one thread's
 * (the main thread's id is the pid). NaN once the process is gone.
 */
export function cpuSeconds(pid: number, thread?: number): number {
  const f = statFields(
    thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`,
  );
  return f === undefined ? Number.NaN : ticks(f) / USER_HZ;
}

/** CPU seconds used so far by every live process of process group `pgid` (Kamailio and its children). */
export function groupCpuSeconds(pgid: number): number {
  let sum = 0;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const f = statFields(`/proc/${pid}/stat`);
    if (f !== undefined && Number(f[2]) === pgid) sum += ticks(f);
  }
  return sum / USER_HZ;
}
