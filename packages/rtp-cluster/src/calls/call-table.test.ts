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

  it('a deleted call re-bound and deleted again keeps only its newest deletion', () => {
    const { t, changes, advance } = table({ deletedTtlMs: 1_000 });
    t.bind('c1', 'a');
    t.markDeleted('c1');
    advance(600);
    t.bind('c1', 'b'); // live again, on another member
    expect(t.lookup('c1')).toBe('b');
    t.markDeleted('c1');
    expect(t.size).toBe(1);
    advance(600); // the first deletion is over, the second is not
    expect(t.sweep()).toBe(0);
    expect(t.lookup('c1')).toBe('b');
    expect(t.snapshot()).toEqual([{ callId: 'c1', member: 'b', lastSeen: 1600, deletedAt: 1600 }]);
    advance(400);
    expect(t.sweep()).toBe(1);
    expect(t.lookup('c1')).toBeUndefined();
    expect(t.size).toBe(0);
    expect(changes.filter((c) => c.type === 'expire')).toEqual([
      { type: 'expire', callId: 'c1', member: 'b' },
    ]);
  });

  it('keeps many deleted calls in deletion order through sweeps and evictions', () => {
    const { t, advance } = table({ deletedTtlMs: 10_000, maxEntries: 15_000 });
    for (let i = 0; i < 20_000; i++) {
      t.bind(`c${i}`, i % 2 === 0 ? 'a' : 'b');
      t.markDeleted(`c${i}`);
      if (i % 1_000 === 999) advance(1_000);
    }
    // 5,000 evicted (oldest first), then ten seconds of deletions kept
    expect(t.evictions).toBe(5_000);
    expect(t.lookup('c4999')).toBeUndefined();
    expect(t.lookup('c5000')).toBe('a');
    expect(t.lookup('c19999')).toBe('b');
    // now 21,000: the deletions of 6,000…11,000 are ten seconds old or more
    expect(t.sweep()).toBe(6_000);
    expect(t.size).toBe(9_000);
    expect(t.lookup('c10999')).toBeUndefined();
    expect(t.lookup('c11000')).toBe('a');
    const snap = t.snapshot();
    expect(snap).toHaveLength(9_000);
    expect(snap[0]).toEqual({ callId: 'c11000', member: 'a', lastSeen: 12_000, deletedAt: 12_000 });
    expect(t.forgetMember('a')).toBe(4_500);
    expect(t.lookup('c11000')).toBeUndefined();
    expect(t.lookup('c11001')).toBe('b');
    advance(20_000);
    expect(t.sweep()).toBe(4_500);
    expect(t.size).toBe(0);
    expect(t.snapshot()).toEqual([]);
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
