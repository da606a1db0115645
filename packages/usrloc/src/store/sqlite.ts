import { type Clock, systemClock } from '@sipedge/core';
import Database from 'better-sqlite3';
import type { ContactRecord, OpenSipsContactExtras } from '../model.js';
import { type ChangeBatch, type ContactStore, checkRecord } from './store.js';

export type SqliteMode = 'write-through' | 'write-back';

export interface SqliteStoreOptions {
  /** Database file (`:memory:` for tests). */
  readonly path: string;
  /** write-through (default): each batch is committed before `write` returns. */
  readonly mode?: SqliteMode;
  /** write-back: how often buffered changes are flushed (ms, default 1000). */
  readonly flushIntervalMs?: number;
  /** write-back: flush early when this many contacts are buffered (default 10,000). */
  readonly maxBuffered?: number;
  /** Time and timers for write-back (default: the system clock). */
  readonly clock?: Clock;
  /** WAL pages before an automatic checkpoint (default 10,000 ≈ 40 MB; SQLite's own is 1,000). */
  readonly walAutocheckpoint?: number;
  /** fsync every commit (synchronous=FULL): durable against power loss, much slower. */
  readonly fullSync?: boolean;
}

const COLUMNS = [
  'id',
  'aor',
  'uri',
  'params',
  'received',
  'path',
  'expires',
  'q',
  'callid',
  'cseq',
  'flags',
  'user_agent',
  'socket',
  'methods',
  'instance',
  'reg_id',
  'last_modified',
  'node_id',
  'shtag',
  'opensips',
] as const;

interface Row {
  id: string;
  aor: string;
  uri: string;
  params: string;
  received: string | null;
  path: string;
  expires: number;
  q: number | null;
  callid: string;
  cseq: number;
  flags: number;
  user_agent: string | null;
  socket: string | null;
  methods: string | null;
  instance: string | null;
  reg_id: number | null;
  last_modified: number;
  node_id: number;
  shtag: string | null;
  /** The OpenSIPS-only fields as JSON, or null (a binding written on sipedge). */
  opensips: string | null;
}

const EMPTY: readonly string[] = Object.freeze([]);

function toRow(c: ContactRecord): unknown[] {
  return [
    c.id,
    c.aor,
    c.uri,
    c.params,
    c.received,
    c.path.length === 0 ? '' : JSON.stringify(c.path),
    c.expires,
    c.q,
    c.callId,
    c.cseq,
    c.flags,
    c.userAgent,
    c.socket,
    c.methods,
    c.instance,
    c.regId,
    c.lastModified,
    c.nodeId,
    c.shtag,
    c.opensips === undefined ? null : JSON.stringify(c.opensips),
  ];
}

function fromRow(r: Row): ContactRecord {
  const c: ContactRecord = {
    id: r.id,
    aor: r.aor,
    uri: r.uri,
    params: r.params,
    received: r.received,
    path: r.path === '' ? EMPTY : (JSON.parse(r.path) as string[]),
    expires: r.expires,
    q: r.q,
    callId: r.callid,
    cseq: r.cseq,
    flags: r.flags,
    userAgent: r.user_agent,
    socket: r.socket,
    methods: r.methods,
    instance: r.instance,
    regId: r.reg_id,
    lastModified: r.last_modified,
    nodeId: r.node_id,
    shtag: r.shtag,
  };
  if (r.opensips === null) return c;
  return { ...c, opensips: JSON.parse(r.opensips) as OpenSipsContactExtras };
}

/**
 * Brings a table written by an older sipedge up to date: schema 1 had no `opensips` column
 * (the OpenSIPS-only fields of a binding, added with live OpenSIPS replication).
 */
function migrate(db: Database.Database): void {
  const columns = db.prepare('PRAGMA table_info(location)').all() as { name: string }[];
  if (!columns.some((c) => c.name === 'opensips'))
    db.exec('ALTER TABLE location ADD COLUMN opensips TEXT');
}

/**
 * SQLite persistence through better-sqlite3 in WAL mode. Write-through commits each batch in
 * one transaction before returning (synchronous=NORMAL: durable against a process crash; an OS
 * crash or power loss may lose the last transactions unless `fullSync` is set, which fsyncs
 * every commit). Write-back buffers the latest state per
 * contact id and flushes on a timer, when the buffer is full, on `flush()` and on `close()`.
 */
/** Rows per background transaction of `writeBehind` (about 10 ms of inserts). */
const BEHIND_CHUNK = 2048;
/** `writeBehind` starts writing once it has been quiet this long (a sync's batches come ms apart)… */
const BEHIND_QUIET_MS = 200;
/** …or once its oldest row has waited this long. */
const BEHIND_MAX_WAIT_MS = 5000;

export class SqliteStore implements ContactStore {
  readonly #db: Database.Database;
  readonly #mode: SqliteMode;
  readonly #clock: Clock;
  readonly #flushMs: number;
  readonly #maxBuffered: number;
  readonly #put: Database.Statement;
  readonly #del: Database.Statement;
  readonly #has: Database.Statement;
  readonly #apply: (batch: ChangeBatch) => void;
  /** write-back (or write-through's write-behind) buffer: id → record (put) or null (delete). */
  readonly #pending = new Map<string, ContactRecord | null>();
  #timer: unknown;
  #closed = false;
  /** When the oldest row still waiting to be written behind arrived. */
  #behindSince: number | undefined;

  constructor(options: SqliteStoreOptions) {
    this.#mode = options.mode ?? 'write-through';
    this.#clock = options.clock ?? systemClock;
    this.#flushMs = options.flushIntervalMs ?? 1000;
    this.#maxBuffered = options.maxBuffered ?? 10_000;
    this.#db = new Database(options.path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${options.fullSync === true ? 'FULL' : 'NORMAL'}`);
    this.#db.pragma(
      `wal_autocheckpoint = ${Math.max(1, Math.floor(options.walAutocheckpoint ?? 10_000))}`,
    );
    this.#db.exec(`CREATE TABLE IF NOT EXISTS location (
      id TEXT PRIMARY KEY NOT NULL, aor TEXT NOT NULL, uri TEXT NOT NULL, params TEXT NOT NULL,
      received TEXT, path TEXT NOT NULL, expires INTEGER NOT NULL, q REAL, callid TEXT NOT NULL,
      cseq INTEGER NOT NULL, flags INTEGER NOT NULL, user_agent TEXT, socket TEXT, methods TEXT,
      instance TEXT, reg_id INTEGER, last_modified INTEGER NOT NULL, node_id INTEGER NOT NULL,
      shtag TEXT, opensips TEXT) WITHOUT ROWID`);
    migrate(this.#db);
    this.#put = this.#db.prepare(
      `INSERT OR REPLACE INTO location (${COLUMNS.join(',')}) VALUES (${COLUMNS.map(() => '?').join(',')})`,
    );
    this.#del = this.#db.prepare('DELETE FROM location WHERE id = ?');
    this.#has = this.#db.prepare('SELECT 1 FROM location WHERE id = ?').pluck();
    this.#apply = this.#db.transaction((batch: ChangeBatch) => {
      for (const c of batch.put) this.#put.run(toRow(c));
      for (const id of batch.del) this.#del.run(id);
    });
  }

  get mode(): SqliteMode {
    return this.#mode;
  }

  /** Contacts waiting to be written (write-back flush, or write-behind in write-through). */
  get buffered(): number {
    return this.#pending.size;
  }

  load(): ContactRecord[] {
    const rows = this.#db.prepare(`SELECT ${COLUMNS.join(',')} FROM location`).all() as Row[];
    if (this.#pending.size === 0) return rows.map(fromRow);
    // write-back: the buffered changes overlay the committed rows
    const out = new Map<string, ContactRecord>();
    for (const r of rows) out.set(r.id, fromRow(r));
    for (const [id, c] of this.#pending) {
      if (c === null) out.delete(id);
      else out.set(id, c);
    }
    return [...out.values()];
  }

  state(id: string): 'new' | 'synced' | 'dirty' {
    if (!this.#pending.has(id)) return 'synced';
    return this.#has.get(id) === undefined ? 'new' : 'dirty';
  }

  write(batch: ChangeBatch): void {
    if (this.#closed) throw new Error('store closed');
    for (const c of batch.put) checkRecord(c);
    if (this.#mode === 'write-through') {
      // one statement is a transaction by itself (autocommit): no BEGIN/COMMIT round trips
      if (batch.put.length + batch.del.length === 1) {
        if (batch.put.length === 1) this.#put.run(toRow(batch.put[0] as ContactRecord));
        else this.#del.run(batch.del[0]);
      } else this.#apply(batch);
      // what this batch wrote supersedes an older state still waiting to be written behind
      if (this.#pending.size > 0) {
        for (const c of batch.put) this.#pending.delete(c.id);
        for (const id of batch.del) this.#pending.delete(id);
      }
      return;
    }
    for (const c of batch.put) this.#pending.set(c.id, c);
    for (const id of batch.del) this.#pending.set(id, null);
    if (this.#pending.size >= this.#maxBuffered) this.flush();
    else this.#arm();
  }

  /**
   * Write-through: the batch waits in the buffer and is committed in the background once
   * `writeBehind` has been quiet for `BEHIND_QUIET_MS` (or has been waiting `BEHIND_MAX_WAIT_MS`),
   * then at most `BEHIND_CHUNK` rows per transaction and one transaction per event-loop turn: a
   * sync of a million bindings is not held up by a million inserts, and the inserts do not
   * hold up the event loop afterwards. Write-back: the same as `write`.
   */
  writeBehind(batch: ChangeBatch): void {
    if (this.#mode !== 'write-through') {
      this.write(batch);
      return;
    }
    if (this.#closed) throw new Error('store closed');
    for (const c of batch.put) checkRecord(c);
    for (const c of batch.put) this.#pending.set(c.id, c);
    for (const id of batch.del) this.#pending.set(id, null);
    const now = this.#now();
    this.#behindSince ??= now;
    this.#cancelTimer();
    this.#armDrain(now - this.#behindSince >= BEHIND_MAX_WAIT_MS ? 0 : BEHIND_QUIET_MS);
  }

  #now(): number {
    return this.#clock.now();
  }

  #cancelTimer(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #armDrain(ms: number): void {
    if (this.#timer !== undefined || this.#closed) return;
    if (this.#pending.size === 0) {
      this.#behindSince = undefined;
      return;
    }
    const fire = (): void => {
      this.#timer = undefined;
      this.#drain();
    };
    this.#timer = this.#clock.setTimeout(fire, ms);
  }

  /** One background transaction of the oldest buffered rows, then the next turn for the rest. */
  #drain(): void {
    const put: ContactRecord[] = [];
    const del: string[] = [];
    for (const [id, c] of this.#pending) {
      if (c === null) del.push(id);
      else put.push(c);
      if (put.length + del.length >= BEHIND_CHUNK) break;
    }
    try {
      this.#apply({ put, del });
    } catch {
      // the disk refused: the rows stay buffered (a resync also has them); retry later
      this.#armDrain(this.#flushMs);
      return;
    }
    for (const c of put) if (this.#pending.get(c.id) === c) this.#pending.delete(c.id);
    for (const id of del) if (this.#pending.get(id) === null) this.#pending.delete(id);
    this.#armDrain(0);
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#pending.size === 0) return;
    const fire = (): void => {
      this.#timer = undefined;
      this.flush();
    };
    this.#timer = this.#clock.setTimeout(fire, this.#flushMs);
  }

  flush(): void {
    if (this.#pending.size === 0) return;
    const put: ContactRecord[] = [];
    const del: string[] = [];
    for (const [id, c] of this.#pending) {
      if (c === null) del.push(id);
      else put.push(c);
    }
    this.#apply({ put, del });
    this.#pending.clear();
    this.#behindSince = undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#cancelTimer();
    this.flush();
    this.#closed = true;
    this.#db.close();
  }
}
