import type { ContactRecord } from '../model.js';

/** One atomic change set: every put and delete lands, or none does. */
export interface ChangeBatch {
  readonly put: readonly ContactRecord[];
  readonly del: readonly string[];
}

/**
 * Where contacts persist. `write` is atomic per batch: when it returns (write-through) the
 * batch is durable against a process crash; when it throws, nothing of the batch was written.
 */
export interface ContactStore {
  /** Every stored contact (called once at start). */
  load(): ContactRecord[];
  write(batch: ChangeBatch): void;
  /**
   * Like `write`, but the batch may land a little later, in the background: for data another
   * node also holds (what a cluster sync delivers), where a crash before it lands loses
   * nothing a resync does not bring back. A later `write` of the same id wins over it. Stores
   * without it take `write`.
   */
  writeBehind?(batch: ChangeBatch): void;
  /**
   * Where a binding stands with the database (OpenSIPS's contact state): `new` (not written
   * yet; always, for a store that keeps nothing), `synced` (written as held), `dirty` (an older
   * version written, this one not yet). Stores without it: `new`.
   */
  state?(id: string): 'new' | 'synced' | 'dirty';
  /** Write out anything buffered (write-back, write-behind); otherwise a no-op. */
  flush(): void;
  /** Flush and release; idempotent. */
  close(): void;
}

/** Checks a record before it is written, so a broken record never half-lands. */
export function checkRecord(c: ContactRecord): void {
  if (typeof c.id !== 'string' || c.id.length === 0) throw new TypeError('contact without id');
  if (typeof c.aor !== 'string' || c.aor.length === 0)
    throw new TypeError(`contact ${c.id} without aor`);
  if (typeof c.uri !== 'string' || c.uri.length === 0)
    throw new TypeError(`contact ${c.id} without uri`);
  if (!Number.isFinite(c.expires) || !Number.isFinite(c.cseq) || !Number.isFinite(c.lastModified)) {
    throw new TypeError(`contact ${c.id} with a non-numeric field`);
  }
}
