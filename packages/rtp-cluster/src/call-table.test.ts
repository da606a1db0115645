import { describe, expect, it } from 'vitest';
import { CallTable, type CallTableChange } from './call-table.js';

function table(options: { deletedTtlMs?: number; idleTtlMs?: number; maxEntries?: number } = {}) {
  let now = 1_000;
  const changes: CallTableChange[] = [];
  const t = new CallTable({
    clock: { now: () => now },
    onChange: (c) => changes.push(c),
    ...options,
  });
  return { t, changes, advance: (ms: number) => (now += ms) };
}

describe('CallTable', () => {
  it('keeps a call on its member and counts live calls per member', () => {
    const { t } = table();
    t.bind('c1', 'a');
    t.bind('c2', 'a');
    t.bind('c3', 'b');
    expect(t.lookup('c1')).toBe('a');
    expect(t.lookup('c3')).toBe('b');
    expect(t.lookup('nope')).toBeUndefined();
    expect(t.liveCalls('a')).toBe(2);
    t.bind('c1', 'b'); // re-bind moves the count
    expect(t.liveCalls('a')).toBe(1);
    expect(t.liveCalls('b')).toBe(2);
  });

  it('keeps a deleted call bound for late retransmits, then forgets it', () => {
    const { t, changes, advance } = table({ deletedTtlMs: 30_000 });
    t.bind('c1', 'a');
    t.markDeleted('c1');
    expect(t.liveCalls('a')).toBe(0);
    advance(29_999);
    expect(t.sweep()).toBe(0);
    expect(t.lookup('c1')).toBe('a');
    advance(1);
    expect(t.sweep()).toBe(1);
    expect(t.lookup('c1')).toBeUndefined();
    expect(changes.map((c) => c.type)).toEqual(['bind', 'delete', 'expire']);
  });

  it('ages out idle bindings but not used ones', () => {
    const { t, advance } = table({ idleTtlMs: 10_000 });
    t.bind('old', 'a');
    t.bind('used', 'a');
    advance(6_000);
    t.lookup('old'); // used again: moves to the back
    advance(6_000);
    expect(t.sweep()).toBe(1);
    expect(t.lookup('used')).toBeUndefined();
    expect(t.lookup('old')).toBe('a');
  });

  it('is bounded, evicting deleted calls first, then the least recently used', () => {
    const { t } = table({ maxEntries: 3 });
    t.bind('c1', 'a');
    t.bind('c2', 'a');
    t.bind('c3', 'a');
    t.markDeleted('c2');
    t.bind('c4', 'a');
    expect(t.lookup('c2')).toBeUndefined();
    t.lookup('c1');
    t.bind('c5', 'a');
    expect(t.lookup('c3')).toBeUndefined();
    expect(t.lookup('c1')).toBe('a');
    expect(t.size).toBe(3);
    expect(t.evictions).toBe(2);
    expect(t.liveCalls('a')).toBe(3);
  });

  it('snapshots and restores, keeping the newer of two bindings', () => {
    const { t, advance } = table();
    t.bind('c1', 'a');
    advance(10);
    t.bind('c2', 'b');
    t.markDeleted('c2');
    const snap = t.snapshot();
    expect(snap).toEqual([
      { callId: 'c2', member: 'b', lastSeen: 1010, deletedAt: 1010 },
      { callId: 'c1', member: 'a', lastSeen: 1000 },
    ]);
    const { t: other, advance: advance2 } = table();
    advance2(5_000);
    other.bind('c1', 'z'); // newer than the snapshot's
    other.restore(snap);
    expect(other.lookup('c1')).toBe('z');
    expect(other.lookup('c2')).toBe('b');
    expect(other.liveCalls('b')).toBe(0);
    expect(other.liveCalls('z')).toBe(1);
  });

  it('forgets every binding of a removed member', () => {
    const { t } = table();
    t.bind('c1', 'a');
    t.bind('c2', 'b');
    t.bind('c3', 'a');
    t.markDeleted('c3');
    expect(t.forgetMember('a')).toBe(2);
    expect(t.lookup('c1')).toBeUndefined();
    expect(t.lookup('c2')).toBe('b');
    expect(t.liveCalls('a')).toBe(0);
  });
});
