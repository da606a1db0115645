/** When an originator said something: its `time()` and its per-stream sequence number. */
export interface Stamp {
  ts: number;
  seq: number;
}

/** Older than any real stamp. */
export const NO_STAMP: Stamp = { ts: Number.NEGATIVE_INFINITY, seq: -1 };

/**
 * Is (ts, seq) newer than `old`? Ordered by timestamp first: an originator's timestamps never
 * go back, so a restarted node (whose seqs start again at 0) is newer than its old self
 * without OpenSIPS's racy "seq 0 means restart" rule.
 */
export function newerStamp(ts: number, seq: number, old: Stamp): boolean {
  return ts > old.ts || (ts === old.ts && seq > old.seq);
}
