import { SeededRandom, VirtualClock } from '@sipedge/core/testing';
import { EventBus } from '@sipedge/mi';
import { VIRTUAL_TIME_TIMEOUT_MS } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { plainContact } from '../../test/contacts.js';
import type { RemoteChange } from '../location/changes.js';
import { Location } from '../location/location.js';
import { MemoryStore } from '../store/memory.js';

const T0 = Date.UTC(2026, 10, 23, 12);

function randomChanges(seed: number, n: number): RemoteChange[] {
  const random = new SeededRandom(seed);
  const pick = (k: number): number => Math.floor(random.next() * k);
  const out: RemoteChange[] = [];
  for (let i = 0; i < n; i++) {
    const id = pick(12);
    const contact = plainContact(`9-s-${id}`, {
      aor: `u${id % 4}@example.com`,
      uri: `sip:u@192.0.2.${id}`,
      expires: T0 + 3_600_000,
      callId: `c${pick(2)}`,
      cseq: pick(5),
      lastModified: T0 + pick(5),
      nodeId: 1 + pick(3),
    });
    out.push({
      type: pick(4) === 0 ? 'delete' : 'put',
      contact,
      at: contact.lastModified,
      nodeId: contact.nodeId,
    });
  }
  return out;
}

function state(l: Location): string {
  const rows = [...l.allContacts()].map(
    (c) => `${c.aor} ${c.id} ${c.callId}/${c.cseq}/${c.lastModified}/${c.nodeId}`,
  );
  const tombs = [...l.tombstones()].map((t) => `${t.id} ${t.callId}/${t.cseq}/${t.at}/${t.nodeId}`);
  return `${rows.sort().join('\n')}\n--\n${tombs.sort().join('\n')}`;
}

describe('Location.applyRemoteMany', { timeout: VIRTUAL_TIME_TIMEOUT_MS }, () => {
  it('ends in the same state as applying the changes one by one (random sequences)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const changes = randomChanges(seed, 60);
      const one = new Location({ clock: new VirtualClock(T0), nodeId: 5 });
      const many = new Location({ clock: new VirtualClock(T0), nodeId: 5 });
      let applied = 0;
      for (const ch of changes) if (one.applyRemote(ch) === 'applied') applied++;
      // in uneven batches, so batch boundaries fall everywhere
      let got = 0;
      for (let i = 0; i < changes.length; i += 1 + (seed % 17))
        got += many.applyRemoteMany(changes.slice(i, i + 1 + (seed % 17)));
      expect(state(many), `seed ${seed}`).toBe(state(one));
      expect(got, `seed ${seed}`).toBe(applied);
    }
  });

  it('writes one store batch, and changes nothing when the store refuses it', () => {
    const store = new MemoryStore();
    let writes = 0;
    const real = store.write.bind(store);
    store.write = (b) => {
      writes++;
      real(b);
    };
    const loc = new Location({ clock: new VirtualClock(T0), nodeId: 5, store });
    const changes = randomChanges(7, 40).filter((c) => c.type === 'put');
    expect(loc.applyRemoteMany(changes)).toBeGreaterThan(0);
    expect(writes).toBe(1);
    const before = state(loc);
    store.write = () => {
      throw new Error('disk full');
    };
    expect(() => loc.applyRemoteMany(randomChanges(8, 40))).toThrow('disk full');
    expect(state(loc)).toBe(before);
    // into an empty location (the joiner's fast path indexes new AoRs ahead of the write)
    const store2 = new MemoryStore();
    const real2 = store2.write.bind(store2);
    store2.write = () => {
      throw new Error('disk full');
    };
    const empty = new Location({ clock: new VirtualClock(T0), nodeId: 5, store: store2 });
    const batch = randomChanges(9, 40);
    expect(() => empty.applyRemoteMany(batch)).toThrow('disk full');
    expect([empty.aorCount, empty.contactCount, state(empty)]).toEqual([0, 0, '\n--\n']);
    store2.write = real2;
    const oneByOne = new Location({ clock: new VirtualClock(T0), nodeId: 5 });
    for (const ch of batch) oneByOne.applyRemote(ch);
    expect(empty.applyRemoteMany(batch)).toBeGreaterThan(0);
    expect(state(empty)).toBe(state(oneByOne));
    expect(empty.contactCount).toBe(oneByOne.contactCount);
  });

  it('a sync into an empty location raises the OpenSIPS events, with params only when listened to', () => {
    const events = new EventBus();
    const loc = new Location({ clock: new VirtualClock(T0), nodeId: 5, events });
    const got: Array<Record<string, unknown>> = [];
    const changes = randomChanges(3, 40).filter((c) => c.type === 'put');
    const aors = new Set(changes.map((c) => c.contact.aor));
    expect(events.wanted('E_UL_CONTACT_INSERT')).toBe(false);
    const off = events.on('E_UL_AOR_INSERT', (p) => got.push(p));
    expect(events.wanted('E_UL_AOR_INSERT')).toBe(true);
    loc.applyRemoteMany(changes);
    expect(got.map((p) => p.aor).sort()).toEqual([...aors].sort());
    expect(got[0]).toMatchObject({ domain: 'location' });
    off();
    expect(events.wanted('E_UL_AOR_INSERT')).toBe(false);
  });
});
