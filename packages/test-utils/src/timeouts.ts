/**
 * The wall-clock bound for a test whose work runs on a virtual clock (the clusterer's
 * simulator, a VirtualClock, fake timers). Such a test's duration is CPU time alone, which a
 * busy machine stretches many times over, so its bound only guards against a hang and is never
 * a timing claim: ten minutes, where the slowest of them takes about ten seconds on a quiet
 * machine.
 */
export const VIRTUAL_TIME_TIMEOUT_MS = 600_000;
