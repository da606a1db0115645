import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { plainContact } from '../test/contacts.js';
import type { ContactChange } from './location/changes.js';
import { Location } from './location/location.js';
import { newerVersion } from './location/tombstones.js';
import type { ContactRecord } from './model.js';

const T0 = Date.UTC(2026, 10, 23, 12);

function rec(over: Partial<ContactRecord> = {}): ContactRecord {
  return plainContact('2-abc-1', {
    uri: 'sip:alice@192.0.2.1',
    expires: T0 + 3_600_000,
    callId: 'c1',
    cseq: 1,
    lastModified: T0,
    nodeId: 2,
    ...over,
  });
}

describe('newerVersion', () => {
  it('orders by CSeq within a Call-ID, then time, then node id', () => {
    const v = { callId: 'a', cseq: 5, at: 100, nodeId: 1 };
    expect(newerVersion({ ...v, cseq: 6, at: 50 }, v)).toBe(true);
    expect(newerVersion({ ...v, callId: 'b', cseq: 1, at: 101 }, v)).toBe(true);
    expect(newerVersion({ ...v, nodeId: 2 }, v)).toBe(true);
    expect(newerVersion(v, v)).toBe(false);
  });
});

describe('Location.applyRemote', () => {
  it('is idempotent: a duplicated put is ignored, a stale one too', () => {
    const loc = new Location({ clock: new VirtualClock(T0), nodeId: 1 });
    const changes: ContactChange[] = [];
    loc.onChange((cs) => changes.push(...cs));
    expect(loc.applyRemote({ type: 'put', contact: rec(), at: T0, nodeId: 2 })).toBe('applied');
    expect(loc.applyRemote({ type: 'put', contact: rec(), at: T0, nodeId: 2 })).toBe('ignored');
    expect(
      loc.applyRemote({
        type: 'put',
        contact: rec({ cseq: 2, lastModified: T0 + 1 }),
        at: T0 + 1,
        nodeId: 2,
      }),
    ).toBe('applied');
    expect(
      loc.applyRemote({
        type: 'put',
        contact: rec({ cseq: 1, lastModified: T0 + 5 }),
        at: T0 + 5,
        nodeId: 2,
      }),
    ).toBe('ignored');
    expect(loc.contacts('alice@example.com')).toEqual([rec({ cseq: 2, lastModified: T0 + 1 })]);
    expect(changes.map((c) => `${c.type}/${c.reason}`)).toEqual([
      'insert/replicated',
      'update/replicated',
    ]);
  });

  it('a late insert cannot resurrect a deleted binding (tombstone)', () => {
    const loc = new Location({ clock: new VirtualClock(T0), nodeId: 1 });
    // the delete arrives before the insert it follows
    expect(
      loc.applyRemote({ type: 'delete', contact: rec({ cseq: 2 }), at: T0 + 10, nodeId: 2 }),
    ).toBe('ignored');
    expect(loc.tombstoneCount).toBe(1);
    expect(loc.applyRemote({ type: 'put', contact: rec(), at: T0, nodeId: 2 })).toBe('ignored');
    expect(loc.contactCount).toBe(0);
    // a genuinely newer registration of the same id wins over the tombstone
    expect(
      loc.applyRemote({
        type: 'put',
        contact: rec({ cseq: 3, lastModified: T0 + 20 }),
        at: T0 + 20,
        nodeId: 2,
      }),
    ).toBe('applied');
    expect(loc.contactCount).toBe(1);
    expect(loc.tombstoneCount).toBe(0);
  });

  it('a delete older than the local copy is ignored; a newer one removes it', () => {
    const loc = new Location({ clock: new VirtualClock(T0), nodeId: 1 });
    loc.applyRemote({
      type: 'put',
      contact: rec({ cseq: 5, lastModified: T0 + 5 }),
      at: T0 + 5,
      nodeId: 2,
    });
    expect(
      loc.applyRemote({ type: 'delete', contact: rec({ cseq: 4 }), at: T0 + 4, nodeId: 2 }),
    ).toBe('ignored');
    expect(loc.contactCount).toBe(1);
    expect(
      loc.applyRemote({ type: 'delete', contact: rec({ cseq: 6 }), at: T0 + 6, nodeId: 2 }),
    ).toBe('applied');
    expect(loc.contactCount).toBe(0);
    expect(loc.aorCount).toBe(0);
  });

  it('local deletes leave tombstones that expire after the TTL and are bounded in number', () => {
    const clock = new VirtualClock(T0);
    const loc = new Location({ clock, nodeId: 1, tombstoneTtlMs: 60_000, maxTombstones: 2 });
    for (let i = 0; i < 3; i++)
      loc.applyRemote({
        type: 'put',
        contact: rec({ id: `x${i}`, uri: `sip:a${i}@192.0.2.1` }),
        at: T0,
        nodeId: 2,
      });
    loc.removeAor('alice@example.com');
    expect(loc.tombstoneCount).toBe(2);
    expect(
      loc.applyRemote({
        type: 'put',
        contact: rec({ id: 'x2', uri: 'sip:a2@192.0.2.1' }),
        at: T0,
        nodeId: 2,
      }),
    ).toBe('ignored');
    clock.advance(61_000);
    loc.expire();
    expect(loc.tombstoneCount).toBe(0);
  });
});
