import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cpuSeconds, groupCpuSeconds } from './proc-cpu.js';

describe('CPU time from /proc', () => {
  it('counts this process, its main thread and its process group, and NaN for a gone pid', () => {
    const before = cpuSeconds(process.pid);
    let x = 0;
    for (let i = 0; i < 30_000_000; i++) x += i % 7; // ~30 ms of CPU at least
    expect(x).toBeGreaterThan(0);
    const after = cpuSeconds(process.pid);
    expect(after).toBeGreaterThan(before);
    expect(cpuSeconds(process.pid, process.pid)).toBeLessThanOrEqual(after);
    expect(cpuSeconds(process.pid, process.pid)).toBeGreaterThan(0);
    // pid 2^22 + 1 is above Linux's pid_max: never a live process
    expect(cpuSeconds(4_194_305)).toBeNaN();
  });

  it('sums a process group, and 0 for a group with no process', () => {
    // field 5 of /proc/self/stat is the process group
    const pgid = Number(readFileSync('/proc/self/stat', 'latin1').split(') ')[1]?.split(' ')[2]);
    const own = cpuSeconds(process.pid);
    expect(groupCpuSeconds(pgid)).toBeGreaterThanOrEqual(own);
    expect(groupCpuSeconds(4_194_305)).toBe(0);
  });
});
