import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallTable } from '@sipedge/rtp-cluster';
import { afterEach, describe, expect, it } from 'vitest';
import { CallStore } from './call-store.js';

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('CallStore', () => {
  it('keeps bindings across a restart, deleted calls included, expired ones not', () => {
    dir = mkdtempSync(join(tmpdir(), 'callstore-'));
    const path = join(dir, 'calls.sqlite');
    let now = 1_000_000;
    const clock = { now: () => now };
    const store = new CallStore(path, 60_000);
    const table = new CallTable({
      clock,
      onChange: store.listener('c1', clock.now),
      maxEntries: 3,
    });
    table.bind('a', 'm1');
    table.bind('b', 'm2');
    table.bind('c', 'm1');
    table.markDeleted('b');
    table.bind('d', 'm2'); // evicts the deleted 'b'
    now += 10;
    table.bind('a', 'm2'); // re-bound
    store.close();

    const again = new CallStore(path, 60_000);
    const restored = new CallTable({ clock });
    restored.restore(again.load('c1'));
    expect(restored.lookup('a')).toBe('m2');
    expect(restored.lookup('b')).toBeUndefined();
    expect(restored.lookup('c')).toBe('m1');
    expect(restored.lookup('d')).toBe('m2');
    expect(again.load('other')).toEqual([]);
    again.close();
  });

  it('keeps a deleted call written before as deleted, and writes nothing for a call that lived less than a flush', () => {
    dir = mkdtempSync(join(tmpdir(), 'callstore-'));
    const path = join(dir, 'calls.sqlite');
    let now = 5_000;
    const clock = { now: () => now };
    const store = new CallStore(path, 60_000);
    const table = new CallTable({ clock, onChange: store.listener('c', clock.now) });
    table.bind('long', 'm1');
    store.flush(); // 'long' now has a row
    table.bind('short', 'm2');
    table.markDeleted('short'); // bound and deleted before any flush
    now += 1000;
    table.markDeleted('long');
    store.close();

    const again = new CallStore(path, 60_000);
    expect(again.load('c')).toEqual([
      { callId: 'long', member: 'm1', lastSeen: 6000, deletedAt: 6000 },
    ]);
    again.close();
  });
});
