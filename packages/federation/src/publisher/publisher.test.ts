import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { MemoryPresenceStore } from '../store/memory-store.js';
import { PresencePublisher, type PresenceSource, type PublisherOptions } from './publisher.js';

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

/** Lets the store's promises settle. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

function harness(options: Partial<PublisherOptions> = {}) {
  const clock = new VirtualClock(T0);
  const store = new MemoryPresenceStore();
  const local = new Map<string, number>();
  const source: PresenceSource = {
    entries: () => local.entries(),
    expiresOf: (aor) => local.get(aor),
  };
  const events: string[] = [];
  const publisher = new PresencePublisher({
    site: 'A',
    store,
    source,
    clock,
    timer: clock,
    probeIntervalMs: 0,
    resyncIntervalMs: 0,
    batchDelayMs: 0,
    onDegraded: (d) => events.push(d ? 'degraded' : 'restored'),
    ...options,
  });
  /** A contact change at the site, as the location table announces it. */
  const set = (aor: string, expires: number | undefined): void => {
    if (expires === undefined) local.delete(aor);
    else local.set(aor, expires);
    publisher.changed(aor);
  };
  /** Runs due timers and settles the store's answers until nothing moves. */
  const run = async (ms = 0): Promise<void> => {
    clock.advance(ms);
    for (let i = 0; i < 20; i++) {
      await settle();
      clock.advance(0);
    }
  };
  const stored = (aor: string): number | undefined => store.snapshot().get(aor)?.get('A');
  return { clock, store, local, publisher, events, set, run, stored };
}

describe('PresencePublisher', () => {
  it('writes nothing until this node is the writer, then every local AoR', async () => {
    const h = harness();
    h.set('alice@example.com', T0 + HOUR);
    await h.run();
    expect(h.store.snapshot().size).toBe(0);
    h.publisher.setWriter(true);
    await h.run();
    expect(h.stored('alice@example.com')).toBe(T0 + HOUR);
  });

  it('writes a first contact and the removal of the last, and never waits for the store', async () => {
    const h = harness();
    h.publisher.setWriter(true);
    h.set('bob@example.com', T0 + HOUR);
    // queued, not written: the caller (a REGISTER) did not wait
    expect(h.publisher.queueDepth).toBe(1);
    await h.run();
    expect(h.stored('bob@example.com')).toBe(T0 + HOUR);
    h.set('bob@example.com', undefined);
    await h.run();
    expect(h.store.snapshot().has('bob@example.com')).toBe(false);
    expect(h.publisher.queueDepth).toBe(0);
  });

  it('coalesces the changes of one AoR and batches AoRs by batchSize', async () => {
    const h = harness({ batchSize: 2 });
    h.publisher.setWriter(true);
    for (let i = 0; i < 5; i++) h.set(`u${i}@example.com`, T0 + HOUR);
    h.set('u0@example.com', T0 + 2 * HOUR);
    await h.run();
    expect(h.store.writeCalls).toBe(3);
    expect(h.stored('u0@example.com')).toBe(T0 + 2 * HOUR);
  });

  it('lets a partial batch wait batchDelayMs for more, and sends a full one at once', async () => {
    const h = harness({ batchDelayMs: 20, batchSize: 3 });
    h.publisher.setWriter(true);
    h.set('a@example.com', T0 + HOUR);
    await h.run(19);
    expect(h.store.writeCalls).toBe(0);
    h.set('b@example.com', T0 + HOUR);
    await h.run(1);
    expect(h.store.writeCalls).toBe(1);
    for (const u of ['c', 'd', 'e']) h.set(`${u}@example.com`, T0 + HOUR);
    await h.run(0);
    expect(h.store.writeCalls).toBe(2);
    expect(h.store.snapshot().size).toBe(5);
  });

  it('skips a refresh that extends the entry by less than a quarter of its lifetime', async () => {
    const h = harness();
    h.publisher.setWriter(true);
    h.set('carol@example.com', T0 + HOUR);
    await h.run();
    const calls = h.store.writeCalls;
    h.set('carol@example.com', T0 + HOUR + 60_000);
    await h.run();
    expect(h.store.writeCalls).toBe(calls);
    h.clock.advance(HOUR / 2);
    h.set('carol@example.com', T0 + HOUR + HOUR / 2);
    await h.run();
    expect(h.stored('carol@example.com')).toBe(T0 + HOUR + HOUR / 2);
  });

  it('keeps changes while the store is away, says degraded once, and replays them after', async () => {
    const h = harness({ retryMinMs: 100, retryMaxMs: 400 });
    h.publisher.setWriter(true);
    h.store.unreachable = true;
    h.set('dave@example.com', T0 + HOUR);
    await h.run();
    expect(h.publisher.degraded).toBe(true);
    h.set('erin@example.com', T0 + HOUR);
    await h.run(100);
    await h.run(200);
    await h.run(400);
    await h.run(400);
    expect(h.events).toEqual(['degraded']);
    expect(h.publisher.counts.failedBatches).toBe(5);
    expect(h.publisher.queueDepth).toBe(2);
    h.store.unreachable = false;
    await h.run(400);
    expect(h.events).toEqual(['degraded', 'restored']);
    expect(h.publisher.degraded).toBe(false);
    expect(h.stored('dave@example.com')).toBe(T0 + HOUR);
    expect(h.stored('erin@example.com')).toBe(T0 + HOUR);
  });

  it('bounds the queue, counts what it drops, and resyncs once the store is back', async () => {
    const h = harness({ maxQueue: 3 });
    h.publisher.setWriter(true);
    h.store.unreachable = true;
    for (let i = 0; i < 5; i++) h.set(`q${i}@example.com`, T0 + HOUR);
    expect(h.publisher.queueDepth).toBe(3);
    expect(h.publisher.counts.dropped).toBe(2);
    h.store.unreachable = false;
    await h.run(10_000);
    for (let i = 0; i < 5; i++) expect(h.stored(`q${i}@example.com`)).toBe(T0 + HOUR);
  });

  it('resyncs after the store comes back empty (a Redis restarted without persistence)', async () => {
    const h = harness({ probeIntervalMs: 1000 });
    h.publisher.start();
    h.publisher.setWriter(true);
    h.set('frank@example.com', T0 + HOUR);
    await h.run();
    // the store goes, forgets, comes back; no change happened meanwhile: the probe notices
    h.store.unreachable = true;
    await h.run(1000);
    expect(h.publisher.degraded).toBe(true);
    h.store.unreachable = false;
    await h.store.write([{ aor: 'frank@example.com', site: 'A', expires: 0 }]);
    expect(h.stored('frank@example.com')).toBeUndefined();
    await h.run(1000);
    expect(h.events).toEqual(['degraded', 'restored']);
    expect(h.stored('frank@example.com')).toBe(T0 + HOUR);
    h.publisher.stop();
  });

  it('resync removes what this node published that is gone, and is idempotent', async () => {
    const h = harness();
    h.publisher.setWriter(true);
    h.set('gina@example.com', T0 + HOUR);
    h.set('hank@example.com', T0 + HOUR);
    await h.run();
    h.local.delete('hank@example.com'); // gone without a change notice
    h.publisher.resync();
    await h.run();
    const first = h.store.snapshot();
    h.publisher.resync();
    await h.run();
    expect(h.store.snapshot()).toEqual(first);
    expect([...first.keys()]).toEqual(['gina@example.com']);
  });

  it('drops its queue when another node becomes the writer', async () => {
    const h = harness();
    h.publisher.setWriter(true);
    h.store.unreachable = true;
    h.set('ivan@example.com', T0 + HOUR);
    await h.run();
    h.publisher.setWriter(false);
    expect(h.publisher.queueDepth).toBe(0);
    h.store.unreachable = false;
    await h.run(10_000);
    expect(h.store.snapshot().size).toBe(0);
  });
});
