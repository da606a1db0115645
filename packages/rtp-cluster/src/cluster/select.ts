/**
 * Choosing a member for a new session (docs/protocols/rtpproxy.md §5.5): among online members whose
 * status is ACTIVE, effective weight = weight × (1 − utilisation), utilisation = active sessions /
 * capacity. Members with a positive effective weight are drawn by weighted random. When every
 * member is at or over capacity, a soft limit admits the session on the least-loaded one (the
 * largest effective weight), a hard limit refuses it.
 */

export interface Candidate {
  readonly name: string;
  readonly weight: number;
  readonly capacity: number;
  /** The member's current estimate of its active sessions. */
  readonly activeSessions: number;
}

export type CapacityLimit = 'soft' | 'hard';

/** A replaceable selection strategy. `random()` returns a number in [0, 1). */
export type SelectionStrategy = <C extends Candidate>(
  candidates: readonly C[],
  limit: CapacityLimit,
  random: () => number,
) => C | undefined;

export function effectiveWeight(c: Candidate): number {
  return c.weight * (1 - c.activeSessions / c.capacity);
}

export const weightedCapacitySelection: SelectionStrategy = (candidates, limit, random) => {
  let total = 0;
  for (const c of candidates) {
    const w = effectiveWeight(c);
    if (w > 0) total += w;
  }
  if (total > 0) {
    let point = random() * total;
    let last: (typeof candidates)[number] | undefined;
    for (const c of candidates) {
      const w = effectiveWeight(c);
      if (w <= 0) continue;
      last = c;
      if (point < w) return c;
      point -= w;
    }
    return last; // floating-point remainder
  }
  if (limit === 'hard') return undefined;
  let best: (typeof candidates)[number] | undefined;
  for (const c of candidates) {
    if (best === undefined || effectiveWeight(c) > effectiveWeight(best)) best = c;
  }
  return best;
};
