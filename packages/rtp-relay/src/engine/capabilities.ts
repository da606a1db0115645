/**
 * What the engine claims and counts: the VF dates it implements, the G counters it keeps and the
 * Q counters it answers.
 */

/**
 * VF dates this engine really implements (docs/protocols/rtpproxy.md §3). 20081224 and 20150617
 * need `-n`.
 */
export const IMPLEMENTED_FEATURES: readonly string[] = Object.freeze([
  '20040107', // base protocol
  '20050322', // ;N media-number tags (P answers E60: no prompts to play)
  '20060704', // VF itself
  '20080403', // Q
  '20081102', // c codec list accepted (kept, not used to filter)
  '20141004', // G counters
  '20150330', // n: new port for an existing stream
]);
const NOTIFY_FEATURES: readonly string[] = Object.freeze(['20081224', '20150617']);

/** What `VF <date>` answers; the notification dates only when notify sockets are configured. */
export function supportsDate(date: string, notifications: boolean): boolean {
  if (IMPLEMENTED_FEATURES.includes(date)) return true;
  return notifications && NOTIFY_FEATURES.includes(date);
}

/**
 * G counter names this engine keeps (a subset of docs/protocols/rtpproxy.md §2.9); others answer
 * E68.
 */
export const STAT_NAMES = [
  'nsess_created',
  'nsess_destroyed',
  'nsess_timeout',
  'nsess_complete',
  'nsess_nortp',
  'nsess_owrtp',
  'nsess_nortcp',
  'nsess_owrtcp',
  'npkts_rcvd',
  'npkts_relayed',
  'npkts_discard',
  'total_duration',
  'ncmds_rcvd',
  'ncmds_succd',
  'ncmds_errs',
  // sipedge: new sessions refused because their source held max_sessions_per_source
  'nsess_source_limited',
] as const;
export type StatName = (typeof STAT_NAMES)[number];

/** The engine's counters by G name: one object, shared by the parts that count. */
export type EngineStats = Record<StatName, number>;

export function newStats(): EngineStats {
  return Object.fromEntries(STAT_NAMES.map((n) => [n, 0])) as EngineStats;
}

/** Q counter names this engine answers; others answer E62. */
export const QUERY_NAMES = ['ttl', 'npkts_ina', 'npkts_ino', 'nrelayed', 'ndropped'] as const;
