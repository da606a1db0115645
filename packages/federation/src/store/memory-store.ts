/**
 * A presence store in memory, with the semantics of the Redis one: for unit tests and for a
 * single-process demo. `unreachable` makes every call reject, as a store that is down does.
 */
import { FederationError } from '../errors.js';
import type { PresenceStore, PresenceWrite, SitePresence } from './store.js';

export class MemoryPresenceStore implements PresenceStore {
  readonly #aors = new Map<string, Map<string, number>>();
  /** Every call rejects while set. */
  unreachable = false;
  /** Calls to `write`, for tests that count round trips. */
  writeCalls = 0;

  async write(writes: readonly PresenceWrite[]): Promise<void> {
    this.#check();
    this.writeCalls++;
    for (const w of writes) {
      const sites = this.#aors.get(w.aor) ?? new Map<string, number>();
      if (w.expires === 0) sites.delete(w.site);
      else sites.set(w.site, w.expires);
      if (sites.size === 0) this.#aors.delete(w.aor);
      else this.#aors.set(w.aor, sites);
    }
  }

  async sites(aor: string, now: number): Promise<SitePresence[]> {
    this.#check();
    const out: SitePresence[] = [];
    for (const [site, expires] of this.#aors.get(aor) ?? []) {
      if (expires > now) out.push({ site, expires });
    }
    return out;
  }

  async removeIf(aor: string, site: string, expires: number): Promise<void> {
    this.#check();
    const sites = this.#aors.get(aor);
    if (sites?.get(site) !== expires) return;
    sites.delete(site);
    if (sites.size === 0) this.#aors.delete(aor);
  }

  async close(): Promise<void> {}

  /** What the store holds: AoR → site → expiry. */
  snapshot(): Map<string, Map<string, number>> {
    return new Map([...this.#aors].map(([aor, s]) => [aor, new Map(s)]));
  }

  #check(): void {
    if (this.unreachable) throw new FederationError('FED_STORE', 'store unreachable');
  }
}
