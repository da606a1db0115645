import { describe } from 'vitest';
import { contactStoreCompliance } from '../../test/compliance.js';
import { MemoryStore } from './memory.js';

describe('MemoryStore compliance', () => {
  contactStoreCompliance({ create: () => new MemoryStore() });
});
