/**
 * Versions of a binding, and the tombstones of deleted ids: the version each deleted record had,
 * kept so that a late change from another node cannot bring the binding back.
 */
import type { ContactRecord } from '../model.js';

export interface Version {
  readonly callId: string;
  readonly cseq: number;
  readonly at: number;
  readonly nodeId: number;
}

/** A tombstone as `Location.tombstones()` lists it (for replication and sync). */
export interface TombstoneEntry {
  readonly id: string;
  readonly aor: string;
  readonly callId: string;
  readonly cseq: number;
  /** lastModified of the deleted record. */
  readonly at: number;
  readonly nodeId: number;
  readonly deletedAt: number;
}

/** A deleted id: the version of the record that was deleted, and when. */
export interface Tombstone extends Version {
  readonly aor: string;
  readonly deletedAt: number;
}

/** A tombstone from a version (a literal: an object spread costs V8 a slow clone). */
export function tombstoneOf(v: Version, aor: string, deletedAt: number): Tombstone {
  return { callId: v.callId, cseq: v.cseq, at: v.at, nodeId: v.nodeId, aor, deletedAt };
}

export function versionOf(c: ContactRecord): Version {
  return { callId: c.callId, cseq: c.cseq, at: c.lastModified, nodeId: c.nodeId };
}

/**
 * Is version `a` newer than `b`? Same Call-ID: higher CSeq first (RFC 3261 ordering); then
 * the later change; then the higher node id (a deterministic tie-break every node agrees on).
 */
export function newerVersion(a: Version, b: Version): boolean {
  if (a.callId === b.callId && a.cseq !== b.cseq) return a.cseq > b.cseq;
  if (a.at !== b.at) return a.at > b.at;
  return a.nodeId > b.nodeId;
}

/**
 * The tombstones of a location: id → version of the delete; insertion-ordered, so the oldest
 * come first. A Map itself, so that looking one up costs what a Map lookup costs.
 */
export class Tombstones extends Map<string, Tombstone> {
  readonly #ttlMs: number;
  readonly #max: number;

  constructor(ttlMs: number, max: number) {
    super();
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  /** Remembers `id` as deleted (the newest); past the most kept, the oldest go. */
  bury(id: string, v: Tombstone): void {
    this.delete(id);
    this.set(id, v);
    while (this.size > this.#max) {
      const oldest = this.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
  }

  /** Each tombstone with its id, oldest first. */
  *list(): Generator<TombstoneEntry> {
    for (const [id, t] of this)
      yield {
        id,
        aor: t.aor,
        callId: t.callId,
        cseq: t.cseq,
        at: t.at,
        nodeId: t.nodeId,
        deletedAt: t.deletedAt,
      };
  }

  /** Forget tombstones older than the TTL (runs with the expiry timer). */
  sweep(now: number): void {
    for (const [id, v] of this) {
      if (now - v.deletedAt < this.#ttlMs) break; // insertion order ≈ time order
      this.delete(id);
    }
  }
}
