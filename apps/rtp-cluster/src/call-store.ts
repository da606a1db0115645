/**
 * Persists every cluster's call-id table in SQLite so that calls in progress keep their member
 * across a restart (rtp_cluster falls back to broadcasting instead). Changes are written behind
 * in one transaction per flush interval (100 ms: a short stall, never one long one) and on
 * close; WAL mode keeps writes cheap. Changes to one call within an interval coalesce, and a
 * call that is bound and deleted before it was ever written costs no write at all.
 */

import { ChurnMap } from '@sipedge/core';
import type { CallBinding, CallTableChange } from '@sipedge/rtp-cluster';
import Database from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS call_binding (
  cluster    TEXT    NOT NULL,
  call_id    TEXT    NOT NULL,
  member     TEXT    NOT NULL,
  last_seen  INTEGER NOT NULL,
  deleted_at INTEGER,
  PRIMARY KEY (cluster, call_id)
) WITHOUT ROWID;
`;

type Pending = { binding: CallBinding } | { removed: true };

export class CallStore {
  readonly #db: Database.Database;
  readonly #upsert: Database.Statement;
  readonly #remove: Database.Statement;
  /** Per cluster, changes not yet written (a ChurnMap: a call is usually bound and deleted between two flushes). */
  readonly #pending = new Map<string, ChurnMap<string, Pending>>();
  /** Per cluster, the calls that have a row. */
  readonly #stored = new Map<string, Set<string>>();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #write: () => void;
  #closed = false;

  constructor(path: string, flushIntervalMs = 100) {
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(SCHEMA);
    this.#upsert = this.#db.prepare(
      'INSERT INTO call_binding (cluster, call_id, member, last_seen, deleted_at) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (cluster, call_id) DO UPDATE SET member = excluded.member, ' +
        'last_seen = excluded.last_seen, deleted_at = excluded.deleted_at',
    );
    this.#remove = this.#db.prepare('DELETE FROM call_binding WHERE cluster = ? AND call_id = ?');
    // made once: better-sqlite3 builds a wrapper (and its variants) per transaction() call
    this.#write = this.#db.transaction(() => this.#writePending());
    this.#timer = setInterval(() => this.flush(), flushIntervalMs);
    this.#timer.unref();
  }

  /** Every stored binding of a cluster. */
  load(cluster: string): CallBinding[] {
    const rows = this.#db
      .prepare(
        'SELECT call_id, member, last_seen, deleted_at FROM call_binding WHERE cluster = ? ORDER BY last_seen',
      )
      .all(cluster) as {
      call_id: string;
      member: string;
      last_seen: number;
      deleted_at: number | null;
    }[];
    const stored = this.#storedOf(cluster);
    for (const r of rows) stored.add(r.call_id);
    return rows.map((r) =>
      r.deleted_at === null
        ? { callId: r.call_id, member: r.member, lastSeen: r.last_seen }
        : { callId: r.call_id, member: r.member, lastSeen: r.last_seen, deletedAt: r.deleted_at },
    );
  }

  /** The change listener to give a cluster's CallTable. */
  listener(cluster: string, now: () => number): (change: CallTableChange) => void {
    let pending = this.#pending.get(cluster);
    if (pending === undefined) {
      pending = new ChurnMap();
      this.#pending.set(cluster, pending);
    }
    const p = pending;
    const stored = this.#storedOf(cluster);
    return (change) => {
      if (change.type === 'bind') {
        p.set(change.binding.callId, { binding: change.binding });
      } else if (!stored.has(change.callId)) {
        // never written: nothing to delete or to mark deleted on disk
        p.delete(change.callId);
      } else if (change.type === 'delete') {
        const t = now();
        p.set(change.callId, {
          binding: { callId: change.callId, member: change.member, lastSeen: t, deletedAt: t },
        });
      } else p.set(change.callId, { removed: true });
    };
  }

  #storedOf(cluster: string): Set<string> {
    let set = this.#stored.get(cluster);
    if (set === undefined) {
      set = new Set();
      this.#stored.set(cluster, set);
    }
    return set;
  }

  /** Writes pending changes in one transaction (none at all when nothing changed). */
  flush(): void {
    if (this.#closed) return;
    let any = false;
    for (const pending of this.#pending.values()) any ||= pending.size > 0;
    if (any) this.#write();
  }

  #writePending(): void {
    for (const [cluster, pending] of this.#pending) {
      const stored = this.#storedOf(cluster);
      pending.forEach((p, callId) => {
        if ('removed' in p) {
          this.#remove.run(cluster, callId);
          stored.delete(callId);
        } else {
          stored.add(callId);
          const b = p.binding;
          this.#upsert.run(cluster, callId, b.member, Math.round(b.lastSeen), b.deletedAt ?? null);
        }
      });
      pending.clear();
    }
  }

  /** Drops the bindings of clusters that no longer exist. */
  forgetCluster(cluster: string): void {
    this.#pending.delete(cluster);
    this.#stored.delete(cluster);
    this.#db.prepare('DELETE FROM call_binding WHERE cluster = ?').run(cluster);
  }

  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    clearInterval(this.#timer);
    this.#db.close();
  }
}
