/** Contact changes: why a binding changed, what listeners receive, what a commit carries. */
import type { ContactRecord } from '../model.js';

/** Why a contact went away or changed — carried in change events. */
export type ChangeReason =
  | 'register'
  | 'unregister'
  | 'evicted'
  | 'expired'
  | 'mi'
  | 'ping-timeout'
  | 'ping-unreachable'
  | 'replicated';

/**
 * One change, as a replicator or an event sink sees it. `insert`/`update`/`refresh` carry the
 * new record; `delete` carries the record as it was.
 */
export interface ContactChange {
  readonly type: 'insert' | 'update' | 'refresh' | 'delete';
  readonly contact: ContactRecord;
  readonly reason: ChangeReason;
  /**
   * In what `onChange` listeners receive: the record the location held under this id until
   * this change (`update`, `refresh`, `delete`; absent for `insert`). Set by the location,
   * whatever the committer passed.
   */
  readonly previous?: ContactRecord;
}

/** The new contact list of one AoR and the changes that lead to it. */
export interface AorCommit {
  readonly aor: string;
  readonly next: readonly ContactRecord[];
  readonly changes: readonly ContactChange[];
}

/** A contact change from another node (the replication payload, minus transport framing). */
export interface RemoteChange {
  readonly type: 'put' | 'delete';
  /** The full record for `put`; for `delete` the record as it was when deleted. */
  readonly contact: ContactRecord;
  /** When the change was made (ms) and by which node. */
  readonly at: number;
  readonly nodeId: number;
}

/**
 * `changes` with `previous` set from `before` (the AoR's list until they apply) and from the
 * earlier changes of the same id in the list; inserts of new ids pass through as they are, so
 * a batch of inserts costs no copy.
 */
export function withPrevious(
  changes: readonly ContactChange[],
  before: readonly ContactRecord[] | undefined,
): readonly ContactChange[] {
  let out: ContactChange[] | undefined;
  // what each id holds as the changes go: a map once the lists are long (an AoR removed with
  // thousands of bindings), plain scans for the usual one or two changes
  const long = changes.length > 8;
  let held: Map<string, ContactRecord | undefined> | undefined;
  if (long) {
    held = new Map();
    if (before !== undefined) for (const x of before) held.set(x.id, x);
  }
  for (let i = 0; i < changes.length; i++) {
    const ch = changes[i] as ContactChange;
    const id = ch.contact.id;
    let previous: ContactRecord | undefined;
    if (held !== undefined) {
      previous = held.get(id);
      held.set(id, ch.type === 'delete' ? undefined : ch.contact);
    } else if (ch.type !== 'insert' || ch.previous !== undefined) {
      // the latest earlier change of this id, else `before`
      let found = false;
      for (let j = i - 1; j >= 0 && !found; j--) {
        const e = changes[j] as ContactChange;
        if (e.contact.id !== id) continue;
        found = true;
        if (e.type !== 'delete') previous = e.contact;
      }
      if (!found && before !== undefined)
        for (const x of before)
          if (x.id === id) {
            previous = x;
            break;
          }
    }
    if (ch.type === 'insert') previous = undefined;
    if (previous === ch.previous) continue;
    out ??= changes.slice();
    out[i] =
      previous === undefined
        ? { type: ch.type, contact: ch.contact, reason: ch.reason }
        : { type: ch.type, contact: ch.contact, reason: ch.reason, previous };
  }
  return out ?? changes;
}
