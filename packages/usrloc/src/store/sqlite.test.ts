import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMessage, VirtualClock } from '@sipedge/sip';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { contactStoreCompliance, sampleContact } from '../../test/compliance.js';
import { Location } from '../location.js';
import { Registrar } from '../registrar.js';
import { SqliteStore } from './sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'usrloc-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
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
