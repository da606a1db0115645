import type { ContactRecord } from '../model.js';
import { type ChangeBatch, type ContactStore, checkRecord } from './store.js';

/**
 * Memory-only store (OpenSIPS `single-instance-no-db`): nothing survives a restart. With
 * `keepRows: false` (what `createContactStore({ mode: 'memory-only' })` makes) it only validates
 * writes and keeps nothing — the `Location` index already holds every binding, and a second
 * map of a million rows costs memory and GC time for no reader. `load()` is then always empty.
 */
export class MemoryStore implements ContactStore {
  readonly #rows: Map<string, ContactRecord> | undefined;

  constructor(options: { keepRows?: boolean } = {}) {
    this.#rows = options.keepRows === false ? undefined : new Map();
  }

  load(): ContactRecord[] {
    return this.#rows === undefined ? [] : [...this.#rows.values()];
  }

  write(batch: ChangeBatch): void {
    for (const c of batch.put) checkRecord(c);
    const rows = this.#rows;
    if (rows === undefined) return;
    for (const c of batch.put) rows.set(c.id, c);
    for (const id of batch.del) rows.delete(id);
  }

  flush(): void {}

  close(): void {}

  /** Rows kept (0 with `keepRows: false`). */
  get size(): number {
    return this.#rows?.size ?? 0;
  }
}
