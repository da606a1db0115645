import type { Clock } from '@sipedge/core';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';
import type { ContactStore } from './store.js';

/** Persistence modes (OpenSIPS `sql_write_mode` plus memory-only). */
export type PersistenceMode = 'memory-only' | 'write-through' | 'write-back';

export interface PersistenceOptions {
  /** Default write-through: committed to SQLite before the 200 is returned. */
  readonly mode?: PersistenceMode;
  /** SQLite file; required unless mode is memory-only. */
  readonly path?: string;
  /** write-back flush interval (ms, default 1000). */
  readonly flushIntervalMs?: number;
  /** fsync every commit (SQLite `synchronous=FULL`): survives power loss, costs a disk flush. */
  readonly fullSync?: boolean;
  readonly clock?: Clock;
}

/** The store for a persistence mode. */
export function createContactStore(options: PersistenceOptions): ContactStore {
  const mode = options.mode ?? 'write-through';
  if (mode === 'memory-only') return new MemoryStore({ keepRows: false });
  if (options.path === undefined) throw new TypeError(`persistence mode ${mode} needs a path`);
  return new SqliteStore({
    path: options.path,
    mode,
    ...(options.flushIntervalMs === undefined ? {} : { flushIntervalMs: options.flushIntervalMs }),
    ...(options.fullSync === undefined ? {} : { fullSync: options.fullSync }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
}
