import { describe, expect, it } from 'vitest';
import {
  parseUsrlocConfig,
  persistenceOptionsFromConfig,
  registrarOptionsFromConfig,
} from './config.js';
import { UsrlocError } from './errors.js';

describe('usrloc config', () => {
  it('fills OpenSIPS defaults and maps to options', () => {
    const c = parseUsrlocConfig({ db_url: '/tmp/x.sqlite' });
    expect(c.sql_write_mode).toBe('write-through');
    expect(c.min_expires).toBe(60);
    expect(Object.isFrozen(c)).toBe(true);
    expect(registrarOptionsFromConfig(c)).toMatchObject({
      pathMode: 'strict',
      retransmissionWindowMs: 20_000,
      defaultExpires: 3600,
    });
    expect(persistenceOptionsFromConfig(c)).toEqual({
      mode: 'write-through',
      path: '/tmp/x.sqlite',
      flushIntervalMs: 10_000,
    });
    expect(persistenceOptionsFromConfig(parseUsrlocConfig({ sql_write_mode: 'none' })).mode).toBe(
      'memory-only',
    );
  });

  it('refuses unknown keys, bad values and a missing db_url with a readable error', () => {
    expect(() => parseUsrlocConfig({ sql_write_mode: 'none', bogus: 1 })).toThrow(UsrlocError);
    expect(() => parseUsrlocConfig({ sql_write_mode: 'none', min_expires: -1 })).toThrow(
      /min_expires/,
    );
    expect(() => parseUsrlocConfig({})).toThrow(/db_url/);
  });
});
