/**
 * The worker-thread store against a server that never answers: every call fails within its
 * bound, and close() ends the worker even then.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPresenceStore } from '../src/store/redis-worker-store.js';

let server: Server;
const sockets = new Set<Socket>();
let address: string;

beforeAll(async () => {
  server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  address = `127.0.0.1:${a.port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('RedisPresenceStore against a silent server', () => {
  it('fails write, sites and removeIf within the timeout, and closes', async () => {
    const store = new RedisPresenceStore({ nodes: [address], timeoutMs: 300 });
    const t0 = performance.now();
    const results = await Promise.allSettled([
      store.write([{ aor: 'a@example.com', site: 'A', expires: Date.now() + 60_000 }]),
      store.sites('a@example.com', Date.now()),
      store.removeIf('a@example.com', 'A', 1),
    ]);
    const elapsed = performance.now() - t0;
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const reason = (r as PromiseRejectedResult).reason as Error;
      expect(reason).toMatchObject({ code: 'FED_STORE' });
      expect(reason.message).toMatch(/not answered/);
    }
    expect(elapsed).toBeLessThan(2000);
    expect(sockets.size).toBeGreaterThan(0);
    await store.close();
    await store.close();
    await expect(store.write([])).rejects.toThrow(/closed/);
  });
});

describe('RedisPresenceStore TLS options', () => {
  it('reads the CA file once when built: a missing one fails the start, no worker is tried', () => {
    expect(
      () => new RedisPresenceStore({ nodes: [address], tls: { ca: '/nonexistent/redis-ca.pem' } }),
    ).toThrow(/redis-ca\.pem/);
  });
});
