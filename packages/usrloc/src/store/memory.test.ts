import { describe, expect, it } from 'vitest';
import { contactStoreCompliance } from '../../test/compliance.js';
import { createContactStore } from './create.js';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';

describe('MemoryStore compliance', () => {
  contactStoreCompliance({ create: () => new MemoryStore() });
});

describe('createContactStore', () => {
  it('memory-only gives a MemoryStore, the SQLite modes need a path', () => {
    expect(createContactStore({ mode: 'memory-only' })).toBeInstanceOf(MemoryStore);
    expect(() => createContactStore({})).toThrow(/needs a path/);
    const s = createContactStore({ mode: 'write-back', path: ':memory:' });
    expect(s).toBeInstanceOf(SqliteStore);
    expect((s as SqliteStore).mode).toBe('write-back');
    s.close();
  });
});
