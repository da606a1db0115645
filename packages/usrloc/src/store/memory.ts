import type { ContactRecord } from '../model.js';
import { type ChangeBatch, type ContactStore, checkRecord } from './store.js';

/** Memory-only store (OpenSIPS `single-instance-no-db`): nothing survives a restart. */
export class MemoryStore implements ContactStore {
  readonly #rows = new Map<string, ContactRecord>();

  load(): ContactRecord[] {
    return [...this.#rows.values()];
  }

  write(batch: ChangeBatch): void {
    for (const c of batch.put) checkRecord(c);
    for (const c of batch.put) this.#rows.set(c.id, c);
    for (const id of batch.del) this.#rows.delete(id);
  }

  flush(): void {}

  close(): void {}

  get size(): number {
    return this.#rows.size;
  }
}
