import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '@sipedge/core/testing';
import { parseMessage } from '@sipedge/sip';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { contactStoreCompliance } from '../../test/compliance.js';
import { sampleContact } from '../../test/contacts.js';
import { Location } from '../location/location.js';
import { Registrar } from '../registrar/registrar.js';
import { SqliteStore } from './sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'usrloc-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const OPENSIPS_EXTRAS = {
  domain: 'location',
  contactId: '42',
  attr: 'a',
  flags: 0,
  cflags: 'NAT',
  methods: 4294967295,
  path: '',
  instance: '',
  kvStore: '',
};
const freshPath = (): string => join(dir, `db${++n}.sqlite`);
const paths = new WeakMap<object, string>();

function rows(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM location').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('SqliteStore write-through compliance', () => {
  contactStoreCompliance({
    create: () => {
      const path = freshPath();
      const s = new SqliteStore({ path });
      paths.set(s, path);
      return s;
    },
    reopen: (s) => {
      s.close();
      return new SqliteStore({ path: paths.get(s)! });
    },
  });
});

describe('SqliteStore write-back compliance', () => {
  const clock = new VirtualClock(0);
  contactStoreCompliance({
    create: () => {
      const path = freshPath();
      const s = new SqliteStore({ path, mode: 'write-back', clock });
      paths.set(s, path);
      return s;
    },
    reopen: (s) => {
      s.close();
      return new SqliteStore({ path: paths.get(s)!, mode: 'write-back', clock });
    },
  });
});

describe('SqliteStore modes', () => {
  it('write-through: the row is committed when write returns (seen by another connection)', () => {
    const path = freshPath();
    const s = new SqliteStore({ path });
    s.write({ put: [sampleContact('a')], del: [] });
    expect(rows(path)).toBe(1);
    const db = new Database(path, { readonly: true });
    expect((db.pragma('journal_mode') as { journal_mode: string }[])[0]?.journal_mode).toBe('wal');
    db.close();
    s.close();
  });

  it('write-back: buffered until the flush interval, then committed; close flushes the rest', () => {
    const clock = new VirtualClock(0);
    const path = freshPath();
    const s = new SqliteStore({ path, mode: 'write-back', flushIntervalMs: 5000, clock });
    s.write({ put: [sampleContact('a'), sampleContact('b')], del: [] });
    s.write({ put: [], del: ['a'] });
    expect(s.buffered).toBe(2);
    expect(rows(path)).toBe(0);
    clock.advance(5000);
    expect(s.buffered).toBe(0);
    expect(rows(path)).toBe(1);
    s.write({ put: [sampleContact('c')], del: [] });
    expect(rows(path)).toBe(1);
    s.close();
    expect(rows(path)).toBe(2);
    expect(clock.pending).toBe(0);
  });

  it('write-back: a full buffer flushes at once', () => {
    const path = freshPath();
    const s = new SqliteStore({
      path,
      mode: 'write-back',
      maxBuffered: 3,
      clock: new VirtualClock(0),
    });
    s.write({ put: [sampleContact('a'), sampleContact('b')], del: [] });
    expect(rows(path)).toBe(0);
    s.write({ put: [sampleContact('c')], del: [] });
    expect(rows(path)).toBe(3);
    s.close();
  });

  it('write-through writeBehind: lands after a quiet spell, 2,048 rows per turn; a later write wins', () => {
    // a clock whose timers fire only when the test says so
    let now = 0;
    const timers = new Map<number, { at: number; fn: () => void }>();
    let seq = 0;
    const clock = {
      now: () => now,
      setTimeout: (fn: () => void, ms: number) => {
        timers.set(++seq, { at: now + ms, fn });
        return seq;
      },
      clearTimeout: (h: unknown) => void timers.delete(h as number),
    };
    const fireNext = (): number => {
      const [id, t] = [...timers].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
      if (id === undefined || t === undefined) return -1;
      timers.delete(id);
      now = Math.max(now, t.at);
      t.fn();
      return t.at;
    };
    const path = freshPath();
    const s = new SqliteStore({ path, clock });
    const synced = Array.from({ length: 5000 }, (_, i) => sampleContact(`s${i}`, { cseq: 1 }));
    s.writeBehind({ put: synced.slice(0, 2500), del: [] });
    now += 150; // the next batch of the sync: the quiet spell starts again
    s.writeBehind({ put: synced.slice(2500), del: [] });
    expect([s.buffered, rows(path)]).toEqual([5000, 0]);
    expect(s.load()).toHaveLength(5000); // what waits is part of the state
    // a REGISTER refreshes one of them before it was written: written through, and it wins
    s.write({ put: [sampleContact('s7', { cseq: 9 })], del: [] });
    expect([s.buffered, rows(path)]).toEqual([4999, 1]);
    expect(fireNext()).toBe(150 + 200);
    expect(rows(path)).toBe(1 + 2048);
    fireNext();
    expect(rows(path)).toBe(1 + 4096);
    fireNext();
    expect([s.buffered, rows(path), timers.size]).toEqual([0, 5000, 0]);
    s.close();
    const again = new SqliteStore({ path });
    expect(again.load().find((c) => c.id === 's7')?.cseq).toBe(9);
    again.close();
  });

  it('write-through writeBehind: a steady stream starts writing after 5 s; close writes the rest', () => {
    const clock = new VirtualClock(0);
    const path = freshPath();
    const s = new SqliteStore({ path, clock });
    for (let i = 0; i < 60 && rows(path) === 0; i++) {
      s.writeBehind({ put: [sampleContact(`t${i}`)], del: [] });
      clock.advance(100); // never quiet for 200 ms
    }
    expect(rows(path)).toBeGreaterThan(0);
    expect(clock.now()).toBeLessThanOrEqual(5200);
    s.writeBehind({ put: [sampleContact('late')], del: ['t0'] });
    s.close();
    const again = new SqliteStore({ path });
    const ids = again.load().map((c) => c.id);
    expect(ids).toContain('late');
    expect(ids).not.toContain('t0');
    again.close();
  });

  it('a location applying a sync with persistBehind holds it at once and stores it after', () => {
    const clock = new VirtualClock(Date.UTC(2026, 10, 23));
    const path = freshPath();
    const location = new Location({ store: new SqliteStore({ path, clock }), clock, nodeId: 2 });
    const changes = Array.from({ length: 3000 }, (_, i) => ({
      type: 'put' as const,
      contact: sampleContact(`x${i}`, {
        aor: `u${i}@example.com`,
        lastModified: clock.now(),
        expires: clock.now() + 3_600_000,
        nodeId: 1,
      }),
      at: clock.now(),
      nodeId: 1,
    }));
    expect(location.applyRemoteMany(changes, { persistBehind: true })).toBe(3000);
    expect([location.contactCount, rows(path)]).toEqual([3000, 0]);
    clock.advance(1000);
    expect(rows(path)).toBe(3000);
    location.stop();
  });

  it('opens a table written before the OpenSIPS column and adds it', () => {
    const path = freshPath();
    const old = new Database(path);
    old.exec(`CREATE TABLE location (
      id TEXT PRIMARY KEY NOT NULL, aor TEXT NOT NULL, uri TEXT NOT NULL, params TEXT NOT NULL,
      received TEXT, path TEXT NOT NULL, expires INTEGER NOT NULL, q REAL, callid TEXT NOT NULL,
      cseq INTEGER NOT NULL, flags INTEGER NOT NULL, user_agent TEXT, socket TEXT, methods TEXT,
      instance TEXT, reg_id INTEGER, last_modified INTEGER NOT NULL, node_id INTEGER NOT NULL,
      shtag TEXT) WITHOUT ROWID`);
    old
      .prepare(
        `INSERT INTO location VALUES ('c1', 'alice@example.com', 'sip:alice@192.0.2.1', '', NULL,
          '', 0, NULL, 'cid', 1, 0, NULL, NULL, NULL, NULL, NULL, 5, 1, NULL)`,
      )
      .run();
    old.close();
    const s = new SqliteStore({ path });
    expect(s.load().map((c) => [c.id, c.opensips])).toEqual([['c1', undefined]]);
    const extras = { ...OPENSIPS_EXTRAS };
    s.write({ put: [sampleContact('c2', { opensips: extras })], del: [] });
    s.close();
    const again = new SqliteStore({ path });
    expect(again.load().find((c) => c.id === 'c2')?.opensips).toEqual(extras);
    again.close();
  });

  it('a restarted location loads every binding and lookup works at once', () => {
    const path = freshPath();
    const clock = new VirtualClock(Date.UTC(2026, 10, 23));
    const loc = new Location({ clock, store: new SqliteStore({ path }) });
    const reg = new Registrar(loc);
    for (let i = 0; i < 20; i++) {
      const msg = [
        'REGISTER sip:example.com SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1',
        `To: <sip:u${i}@example.com>`,
        `From: <sip:u${i}@example.com>;tag=1`,
        `Call-ID: c${i}`,
        'CSeq: 1 REGISTER',
        'Supported: path',
        'Path: <sip:edge.example.com;lr>',
        `Contact: <sip:u${i}@192.0.2.${i}>;q=0.${i % 10}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      expect(reg.save(parseMessage(Buffer.from(msg))).status).toBe(200);
    }
    const before = [...loc.allContacts()];
    loc.stop();
    const loc2 = new Location({ clock, store: new SqliteStore({ path }) });
    expect(loc2.contactCount).toBe(20);
    expect(loc2.aorCount).toBe(20);
    expect([...loc2.allContacts()].sort((a, b) => a.id.localeCompare(b.id))).toEqual(
      before.sort((a, b) => a.id.localeCompare(b.id)),
    );
    expect(new Registrar(loc2).lookup('sip:u3@example.com')[0]?.route).toEqual([
      '<sip:edge.example.com;lr>',
    ]);
    loc2.stop();
  });
});
