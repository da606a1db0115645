/**
 * The presence store: per AoR, the sites that hold contacts for it and until when. One key
 * per AoR (no hash tag, so Redis Cluster spreads the keys over its slots); in it, one field
 * per site whose value is the site's longest expiry (ms since the epoch). The key lives as long
 * as its longest field, so the entries of a site that died age out by themselves.
 */

/** What a site says about one AoR: it holds contacts until `expires`, or (`0`) none any more. */
export interface PresenceWrite {
  readonly aor: string;
  readonly site: string;
  /** Ms since the epoch; 0: the site has no contact left for the AoR. */
  readonly expires: number;
}

/** One site holding an AoR. */
export interface SitePresence {
  readonly site: string;
  /** Ms since the epoch. */
  readonly expires: number;
}

export interface PresenceStore {
  /**
   * Applies every write, idempotently (writing one twice leaves what writing it once does).
   * Rejects if any may not have landed: the caller writes them all again.
   */
  write(writes: readonly PresenceWrite[]): Promise<void>;
  /** The sites holding `aor` whose entries have not expired at `now`. */
  sites(aor: string, now: number): Promise<SitePresence[]>;
  /**
   * Removes `site` from `aor` if its entry still says `expires` (another site found it gone;
   * a write made since by the site itself is kept).
   */
  removeIf(aor: string, site: string, expires: number): Promise<void>;
  /** Closes the connections; idempotent. */
  close(): Promise<void>;
}

/** The key of an AoR: `sipedge:fed:<aor>`. */
export function presenceKey(aor: string): string {
  return `sipedge:fed:${aor}`;
}
