import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { MemoryPresenceStore } from '../store/memory-store.js';
import type { SitePresence } from '../store/store.js';
import { SiteLookup } from './lookup.js';

const T0 = 1_700_000_000_000;
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

function harness() {
  const clock = new VirtualClock(T0);
  const store = new MemoryPresenceStore();
  const lookup = new SiteLookup({
    site: 'B',
    store,
    clock,
    timer: clock,
    positiveCacheMs: 2000,
    negativeCacheMs: 1000,
    timeoutMs: 500,
  });
  return { clock, store, lookup };
}

describe('SiteLookup', () => {
  it('answers the other sites holding an AoR, never this one, nor an expired entry', async () => {
    const h = harness();
    await h.store.write([
      { aor: 'alice@example.com', site: 'A', expires: T0 + 60_000 },
      { aor: 'alice@example.com', site: 'B', expires: T0 + 60_000 },
      { aor: 'alice@example.com', site: 'C', expires: T0 - 1 },
    ]);
    const sites = await h.lookup.sites('alice@example.com');
    expect(sites.map((s) => s.site)).toEqual(['A']);
  });

  it('reuses a positive answer for positiveCacheMs and a negative one for negativeCacheMs', async () => {
    const h = harness();
    await h.store.write([{ aor: 'alice@example.com', site: 'A', expires: T0 + 60_000 }]);
    await h.lookup.sites('alice@example.com');
    await h.lookup.sites('nobody@example.com');
    await h.store.write([
      { aor: 'alice@example.com', site: 'A', expires: 0 },
      { aor: 'nobody@example.com', site: 'A', expires: T0 + 60_000 },
    ]);
    expect((await h.lookup.sites('alice@example.com')).length).toBe(1);
    expect((await h.lookup.sites('nobody@example.com')).length).toBe(0);
    h.clock.advance(1000);
    expect((await h.lookup.sites('nobody@example.com')).length).toBe(1);
    expect((await h.lookup.sites('alice@example.com')).length).toBe(1);
    h.clock.advance(1000);
    expect((await h.lookup.sites('alice@example.com')).length).toBe(0);
    expect(h.lookup.counts).toMatchObject({ reads: 4, cacheHits: 3, failures: 0 });
  });

  it('reads once for concurrent lookups of one AoR', async () => {
    const h = harness();
    await Promise.all([h.lookup.sites('x@example.com'), h.lookup.sites('x@example.com')]);
    expect(h.lookup.counts.reads).toBe(1);
  });

  it('answers no other site when the store fails or is slower than timeoutMs', async () => {
    const h = harness();
    h.store.unreachable = true;
    expect(await h.lookup.sites('a@example.com')).toEqual([]);
    const slow = new SiteLookup({
      site: 'B',
      store: {
        write: () => Promise.resolve(),
        sites: () => new Promise<SitePresence[]>(() => {}),
        removeIf: () => Promise.resolve(),
        close: () => Promise.resolve(),
      },
      clock: h.clock,
      timer: h.clock,
      timeoutMs: 500,
    });
    const answer = slow.sites('b@example.com');
    h.clock.advance(500);
    expect(await answer).toEqual([]);
    expect(slow.counts.failures).toBe(1);
  });

  it("removes a site's entry when the site says 404, unless the site wrote it again since", async () => {
    const h = harness();
    await h.store.write([
      { aor: 'alice@example.com', site: 'A', expires: T0 + 60_000 },
      { aor: 'bob@example.com', site: 'A', expires: T0 + 60_000 },
    ]);
    await h.lookup.sites('alice@example.com');
    await h.lookup.sites('bob@example.com');
    // bob registered again at A meanwhile: A's new entry must stay
    await h.store.write([{ aor: 'bob@example.com', site: 'A', expires: T0 + 90_000 }]);
    h.lookup.notFound('alice@example.com', 'A');
    h.lookup.notFound('bob@example.com', 'A');
    await settle();
    expect(h.store.snapshot().has('alice@example.com')).toBe(false);
    expect(h.store.snapshot().get('bob@example.com')?.get('A')).toBe(T0 + 90_000);
    expect(await h.lookup.sites('alice@example.com')).toEqual([]);
    expect(h.lookup.counts.cleaned).toBe(2);
  });
});
