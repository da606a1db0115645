/**
 * Changes from other nodes, many at once (a sync batch): which of them land, decided one by one
 * against the state the earlier ones leave, before anything is written. `Location` writes what
 * this decides; `Location.applyRemote` applies the same rules to a single change.
 */
import type { ContactRecord } from '../model.js';
import type { AorCommit, RemoteChange } from './changes.js';
import {
  newerVersion,
  type Tombstone,
  type Tombstones,
  tombstoneOf,
  versionOf,
} from './tombstones.js';

/** What a batch of remote changes does to a location. */
export interface RemoteBatch {
  /** The AoRs that change, in order. */
  readonly commits: AorCommit[];
  /** New AoRs with one binding each, already in the index. */
  readonly fresh: ContactRecord[];
  /** Tombstones to keep (null: none after all). */
  readonly tombs: Map<string, Tombstone | null>;
  /** How many changes land. */
  readonly applied: number;
}

/**
 * Decides `changes` against `aors` (the location's index) and `tombstones`. The AoRs of `fresh`
 * go into `aors` at once: the caller takes them out again if the store refuses the batch.
 */
export function planRemoteBatch(
  changes: readonly RemoteChange[],
  aors: Map<string, ContactRecord[]>,
  tombstones: Tombstones,
): RemoteBatch {
  const lists = new Map<string, ContactRecord[]>();
  /** Tombstones decided in this batch; null = removed by a put that landed. */
  const tombs = new Map<string, Tombstone | null>();
  const commits: AorCommit[] = [];
  /** Puts for AoRs this node does not hold, with no tombstone anywhere: plain inserts. */
  const fresh: ContactRecord[] = [];
  let applied = 0;
  for (const change of changes) {
    const c = change.contact;
    if (change.type === 'put' && tombs.size === 0 && tombstones.size === 0 && !aors.has(c.aor)) {
      // the common case of a joiner's sync: the AoR goes into the index at once (taken out
      // again if the store refuses the batch); no list copies, no per-change commit objects.
      // A later change of the same AoR in this batch then sees it as held.
      aors.set(c.aor, [c]);
      fresh.push(c);
      applied++;
      continue;
    }
    let list = lists.get(c.aor);
    if (list === undefined) {
      list = (aors.get(c.aor) ?? []).slice();
      lists.set(c.aor, list);
    }
    let idx = -1;
    for (let i = 0; i < list.length; i++) {
      if ((list[i] as ContactRecord).id === c.id) {
        idx = i;
        break;
      }
    }
    const local = idx < 0 ? undefined : (list[idx] as ContactRecord);
    const v = versionOf(c);
    // (a fresh joiner's sync: no tombstones anywhere, skip those lookups)
    const pendingTomb = tombs.size === 0 ? undefined : tombs.get(c.id);
    const tomb =
      pendingTomb === null
        ? undefined
        : (pendingTomb ?? (tombstones.size === 0 ? undefined : tombstones.get(c.id)));
    if (change.type === 'delete') {
      if (local !== undefined && !newerVersion(versionOf(local), v)) {
        list.splice(idx, 1);
        commits.push({
          aor: c.aor,
          next: list.slice(),
          changes: [{ type: 'delete', contact: local, reason: 'replicated' }],
        });
        tombs.set(c.id, tombstoneOf(v, c.aor, change.at));
        applied++;
      } else if (local === undefined && (tomb === undefined || newerVersion(v, tomb))) {
        tombs.set(c.id, tombstoneOf(v, c.aor, change.at));
      }
      continue;
    }
    if (tomb !== undefined && !newerVersion(v, tomb)) continue;
    if (local !== undefined && !newerVersion(v, versionOf(local))) continue;
    if (local === undefined) list.push(c);
    else list[idx] = c;
    // a put that landed supersedes a tombstone for later changes in this batch
    if (tomb !== undefined || pendingTomb !== undefined) tombs.set(c.id, null);
    commits.push({
      aor: c.aor,
      next: list.slice(),
      changes: [
        { type: local === undefined ? 'insert' : 'update', contact: c, reason: 'replicated' },
      ],
    });
    applied++;
  }
  return { commits, fresh, tombs, applied };
}
