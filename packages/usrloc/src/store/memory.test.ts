import { describe, expect, it } from 'vitest';
import { contactStoreCompliance } from '../../test/compliance.js';
import { plainContact } from '../../test/contacts.js';
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

  it('memory-only keeps no second copy of the rows, but still refuses bad records', () => {
    const s = createContactStore({ mode: 'memory-only' }) as MemoryStore;
    const good = plainContact('1-a-1', {
      aor: 'a@example.com',
      uri: 'sip:a@192.0.2.1',
      expires: 1,
      callId: 'c',
      cseq: 1,
      lastModified: 1,
      nodeId: 1,
    });
    s.write({ put: [good], del: [] });
    expect(s.size).toBe(0);
    expect(s.load()).toEqual([]);
    expect(() => s.write({ put: [{ ...good, id: '' }], del: [] })).toThrow();
  });
});
