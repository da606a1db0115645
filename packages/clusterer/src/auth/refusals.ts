import { type Clock, type Logger, LogLimiter } from '@sipedge/core';
import type { HelloRefusal } from './link-auth.js';

/**
 * Why a peer was refused. Each is counted as `refused_<reason>` in `Clusterer.counters` and is
 * an MI statistic `clusterer:bin_refused_<reason>`.
 */
export type RefusalReason =
  /** The node id a packet claims for its sender is not configured at the connection's address. */
  | 'wrong_address'
  /** A connection admitted for one node carried a packet sent by another. */
  | 'hop_changed'
  /** `bins:`: the peer's certificate does not name the node it claims to be. */
  | 'certificate_name'
  /** `auth_secret` is set and the connection sent something before a valid hello. */
  | 'unauthenticated'
  | HelloRefusal
  /** An MI_CMD or REMOVE_NODE relayed by another node while its sender is my direct neighbour. */
  | 'relayed_control'
  /** An MI_CMD whose command `remote_mi` does not allow. */
  | 'mi_not_allowed'
  /** An MI_CMD from a node `remote_mi` does not list. */
  | 'mi_node_not_allowed';

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'wrong_address',
  'hop_changed',
  'certificate_name',
  'unauthenticated',
  'bad_hello',
  'bad_secret',
  'stale_hello',
  'replayed_hello',
  'relayed_control',
  'mi_not_allowed',
  'mi_node_not_allowed',
];

/** Counts refusals by reason and logs each (peer, reason) at most once a minute. */
export class Refusals {
  readonly #count: (name: string) => void;
  readonly #log: Logger;
  readonly #logLimit: LogLimiter;

  constructor(count: (name: string) => void, log: Logger, clock: Clock) {
    this.#count = count;
    this.#log = log;
    this.#logLimit = new LogLimiter({ clock, maxKeys: 4096 });
  }

  /** Count and (rate-limited) log one refusal of `peer` (its address, or `node <id>`). */
  refuse(reason: RefusalReason, peer: string, detail: Record<string, unknown> = {}): void {
    this.#count(`refused_${reason}`);
    const suppressed = this.#logLimit.admit(`${peer} ${reason}`);
    if (suppressed === undefined) return;
    this.#log.warn(
      { peer, reason, ...detail, ...(suppressed > 0 ? { suppressed } : {}) },
      `BIN peer ${peer} refused: ${reason.replaceAll('_', ' ')}`,
    );
  }
}
