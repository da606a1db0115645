import { describe, expect, it } from 'vitest';
import { miServerOptions, parseMiConfig } from './config.js';

describe('MI config', () => {
  it('fills safe defaults', () => {
    const c = parseMiConfig({});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8888, root: '/mi', ws_path: '/mi/ws' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(miServerOptions(c)).toMatchObject({
      host: '127.0.0.1',
      pingIntervalMs: 30_000,
      maxConnectionsPerSource: 32,
      maxWsClientsPerSource: 16,
      requestTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
    });
  });

  it('refuses a non-loopback host without a token, and unknown keys', () => {
    expect(() => parseMiConfig({ host: '0.0.0.0' })).toThrow(/requires a token/);
    expect(parseMiConfig({ host: '0.0.0.0', token: 'x'.repeat(16) }).host).toBe('0.0.0.0');
    expect(() => parseMiConfig({ prot: 1 })).toThrow();
    expect(() => parseMiConfig({ port: 70000 })).toThrow();
  });
});
