import { VirtualClock } from '@sipedge/core/testing';
import { callCommand, createMiCore } from '@sipedge/mi';
import { describe, expect, it } from 'vitest';
import { parseFederationConfig } from './config.js';
import { FEDERATION_DEGRADED_EVENT, FEDERATION_RESTORED_EVENT, Federation } from './federation.js';
import { federationMiCommands } from './mi/commands.js';
import { siteExpiry } from './presence.js';
import { MemoryPresenceStore } from './store/memory-store.js';

const T0 = 1_700_000_000_000;
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

const CONFIG = {
  site: 'B',
  sites: [
    { id: 'A', address: '127.0.0.1:5070' },
    { id: 'B', address: '127.0.0.1:5080' },
  ],
  store: { nodes: ['127.0.0.1:7000'] },
};

describe('parseFederationConfig', () => {
  it('fills the defaults', () => {
    const c = parseFederationConfig(CONFIG);
    expect(c).toMatchObject({ lookup_cache: 2, negative_cache: 1, queue_max: 100_000 });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('refuses a site missing from sites[], a site twice, and an address without a port', () => {
    expect(() => parseFederationConfig({ ...CONFIG, site: 'C' })).toThrow(/not in sites/);
    expect(() =>
      parseFederationConfig({ ...CONFIG, sites: [...CONFIG.sites, CONFIG.sites[0]] }),
    ).toThrow(/twice/);
    expect(() => parseFederationConfig({ ...CONFIG, store: { nodes: ['127.0.0.1'] } })).toThrow(
      /host:port/,
    );
  });
});

describe('siteExpiry', () => {
  it('is the longest valid expiry, a permanent contact counting as now + permanentMs', () => {
    expect(siteExpiry([{ expires: T0 + 5 }, { expires: T0 + 9 }], T0, 100)).toBe(T0 + 9);
    expect(siteExpiry([{ expires: 0 }, { expires: T0 + 9 }], T0, 100)).toBe(T0 + 100);
    expect(siteExpiry([{ expires: T0 - 1 }], T0, 100)).toBeUndefined();
    expect(siteExpiry([], T0, 100)).toBeUndefined();
  });
});

describe('Federation', () => {
  function harness() {
    const clock = new VirtualClock(T0);
    const store = new MemoryPresenceStore();
    const mi = createMiCore({});
    const raised: string[] = [];
    for (const e of [FEDERATION_DEGRADED_EVENT, FEDERATION_RESTORED_EVENT]) {
      mi.events.on(e, () => raised.push(e));
    }
    const federation = new Federation({
      config: parseFederationConfig({ ...CONFIG, probe_interval: 1 }),
      store,
      source: { entries: () => [], expiresOf: () => undefined },
      clock,
      timer: clock,
      stats: mi.stats,
      events: mi.events,
    });
    mi.registry.register(...federationMiCommands(federation));
    return { clock, store, mi, raised, federation };
  }

  it('names the remote sites of an AoR with their addresses', async () => {
    const h = harness();
    await h.store.write([
      { aor: 'alice@example.com', site: 'A', expires: T0 + 60_000 },
      { aor: 'alice@example.com', site: 'Z', expires: T0 + 60_000 },
    ]);
    expect(await h.federation.remoteSites('alice@example.com')).toEqual([
      { site: 'A', address: '127.0.0.1:5070' },
    ]);
  });

  it('raises degraded and restored, and shows them in the gauge and ul_federation_status', async () => {
    const h = harness();
    h.federation.start();
    h.store.unreachable = true;
    h.clock.advance(1000);
    await settle();
    expect(h.raised).toEqual([FEDERATION_DEGRADED_EVENT]);
    expect(h.mi.stats.get('federation:degraded')).toBe(1);
    const status = (await callCommand(h.mi.registry, 'ul_federation_status', {})) as {
      degraded: boolean;
      sites: unknown;
    };
    expect(status.degraded).toBe(true);
    expect(status.sites).toEqual([{ site: 'A', address: '127.0.0.1:5070' }]);
    h.store.unreachable = false;
    h.clock.advance(1000);
    await settle();
    expect(h.raised).toEqual([FEDERATION_DEGRADED_EVENT, FEDERATION_RESTORED_EVENT]);
    expect(h.mi.stats.get('federation:degraded')).toBe(0);
    await h.federation.stop();
  });

  it('ul_federation_resync refuses on a node that is not the writer', async () => {
    const h = harness();
    await expect(callCommand(h.mi.registry, 'ul_federation_resync', {})).rejects.toThrow(
      /Not the writer/,
    );
    h.federation.publisher.setWriter(true);
    expect(await callCommand(h.mi.registry, 'ul_federation_resync', {})).toEqual({ queued: 0 });
  });
});
