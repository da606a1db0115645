import { describe, expect, it } from 'vitest';
import { checkBearer, checkBindPolicy, isLoopbackHost, MiSecurityError } from './policy.js';

describe('bind policy', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '::1',
    '[::1]',
    'localhost',
    '::ffff:127.0.0.1',
  ])('%s is loopback', (h) => {
    expect(isLoopbackHost(h)).toBe(true);
    expect(() => checkBindPolicy(h, undefined)).not.toThrow();
  });

  it.each([
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '192.168.1.1',
    '128.0.0.1',
    'example.com',
    '::ffff:10.0.0.1',
  ])('%s needs a token', (h) => {
    expect(isLoopbackHost(h)).toBe(false);
    expect(() => checkBindPolicy(h, undefined)).toThrow(MiSecurityError);
    expect(() => checkBindPolicy(h, 'sixteen-chars-ok')).not.toThrow();
  });

  it('checks bearer tokens exactly', () => {
    const t = 'sixteen-chars-ok';
    expect(checkBearer(`Bearer ${t}`, t)).toBe(true);
    expect(checkBearer(`bearer ${t}`, t)).toBe(true);
    expect(checkBearer(undefined, t)).toBe(false);
    expect(checkBearer('Bearer ', t)).toBe(false);
    expect(checkBearer(`Bearer ${t}!`, t)).toBe(false);
    expect(checkBearer(`Bearer ${t.slice(1)}`, t)).toBe(false);
    expect(checkBearer(t, t)).toBe(false);
  });
});
