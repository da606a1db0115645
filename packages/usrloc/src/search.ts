/**
 * `ul_search` (sipedge's own MI command, no OpenSIPS twin): the AoRs of a location table that
 * start with a prefix, a page at a time, in code-unit order, with their contacts. It answers
 * from a sorted index of the AoRs kept beside the location (built at the first search, then
 * kept up to date from the location's change listener), so a page costs a few binary searches
 * and the page itself, not a scan of every AoR.
 */
import { defineCommand, type MiCommand, MiCommandError } from '@sipedge/mi';
import { z } from 'zod';
import type { Location } from './location/location.js';
import type { ContactRecord } from './model.js';

/** Most AoRs one `ul_search` page holds; a larger `limit` is cut to this. */
export const UL_SEARCH_MAX_LIMIT = 500;
const DEFAULT_LIMIT = 50;
/** Keys per chunk before it splits (a chunk splice moves at most this many). */
const CHUNK = 512;

/** Index of the first element of `list` for which `past` holds (`past` false…then true). */
function firstPast<T>(list: readonly T[], past: (x: T) => boolean): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (past(list[mid] as T)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * A set of strings kept sorted (code-unit order) as a list of sorted chunks: add and delete
 * cost a binary search and a splice of one chunk; the rank of a key costs a walk over chunk
 * sizes (a few hundred at 100,000 keys).
 */
export class SortedKeys {
  #chunks: string[][] = [];
  #size = 0;

  constructor(keys: Iterable<string> = []) {
    const all = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const half = CHUNK / 2;
    for (let i = 0; i < all.length; i += half) this.#chunks.push(all.slice(i, i + half));
    this.#size = all.length;
  }

  get size(): number {
    return this.#size;
  }

  /** The chunk a key belongs in: the first whose last key is ≥ it, or the last chunk. */
  #chunkOf(key: string): number {
    const i = firstPast(this.#chunks, (c) => (c[c.length - 1] as string) >= key);
    return Math.min(i, this.#chunks.length - 1);
  }

  /** Adds `key`; false if it was there. */
  add(key: string): boolean {
    if (this.#chunks.length === 0) {
      this.#chunks.push([key]);
      this.#size = 1;
      return true;
    }
    const ci = this.#chunkOf(key);
    const chunk = this.#chunks[ci] as string[];
    const at = firstPast(chunk, (k) => k >= key);
    if (chunk[at] === key) return false;
    chunk.splice(at, 0, key);
    this.#size++;
    if (chunk.length > CHUNK) this.#chunks.splice(ci + 1, 0, chunk.splice(CHUNK / 2));
    return true;
  }

  /** Removes `key`; false if it was not there. */
  delete(key: string): boolean {
    if (this.#chunks.length === 0) return false;
    const ci = this.#chunkOf(key);
    const chunk = this.#chunks[ci] as string[];
    const at = firstPast(chunk, (k) => k >= key);
    if (chunk[at] !== key) return false;
    chunk.splice(at, 1);
    this.#size--;
    if (chunk.length === 0) this.#chunks.splice(ci, 1);
    return true;
  }

  /** How many keys come before the first key for which `past` holds (monotone over keys). */
  rank(past: (key: string) => boolean): number {
    let before = 0;
    for (const chunk of this.#chunks) {
      if (past(chunk[chunk.length - 1] as string)) return before + firstPast(chunk, past);
      before += chunk.length;
    }
    return before;
  }

  /** The keys from the first for which `past` holds, in order. */
  *from(past: (key: string) => boolean): Generator<string> {
    let ci = firstPast(this.#chunks, (c) => past(c[c.length - 1] as string));
    if (ci >= this.#chunks.length) return;
    let at = firstPast(this.#chunks[ci] as string[], past);
    for (; ci < this.#chunks.length; ci++, at = 0) {
      const chunk = this.#chunks[ci] as string[];
      for (; at < chunk.length; at++) yield chunk[at] as string;
    }
  }
}

/** One page of a prefix search over AoRs. */
export interface AorPage {
  readonly aors: readonly string[];
  /** AoRs starting with the prefix, in all pages. */
  readonly total: number;
  /** The `after` for the next page, or null when this page is the last. */
  readonly next: string | null;
}

/** `keys` starting with `prefix`, after `after` (exclusive) when given, at most `limit`. */
export function pageOf(keys: SortedKeys, prefix: string, limit: number, after?: string): AorPage {
  const atPrefix = (k: string): boolean => k >= prefix;
  // every key ≥ prefix that does not start with it sorts after all the keys that do
  const pastPrefix = (k: string): boolean => k >= prefix && !k.startsWith(prefix);
  const total = keys.rank(pastPrefix) - keys.rank(atPrefix);
  const start =
    after === undefined || after < prefix ? atPrefix : (k: string): boolean => k > after;
  const aors: string[] = [];
  let more = false;
  for (const k of keys.from(start)) {
    if (!k.startsWith(prefix)) break;
    if (aors.length === limit) {
      more = true;
      break;
    }
    aors.push(k);
  }
  return { aors, total, next: more ? (aors[aors.length - 1] ?? null) : null };
}

/** The AoRs of `location`, sorted, kept current from its change listener. */
function indexOf(location: Location): SortedKeys {
  const keys = new SortedKeys(location.aors());
  location.onChange((changes) => {
    for (const ch of changes) {
      const aor = ch.contact.aor;
      if (location.contacts(aor).length > 0) keys.add(aor);
      else keys.delete(aor);
    }
  });
  return keys;
}

type SearchParam = 'table_name' | 'prefix' | 'limit' | 'after';
/** `table_name` with any of the optional params (named only, so no recipe is ambiguous). */
const SEARCH_RECIPES: readonly (readonly SearchParam[])[] = (
  [
    [],
    ['prefix'],
    ['limit'],
    ['after'],
    ['prefix', 'limit'],
    ['prefix', 'after'],
    ['limit', 'after'],
    ['prefix', 'limit', 'after'],
  ] as SearchParam[][]
).map((r) => ['table_name', ...r]);

/** A prefix as typed: a `sip:` or `sips:` scheme in front of an AoR is not part of it. */
function prefixOf(raw: string): string {
  return raw.trim().replace(/^sips?:/i, '');
}

/**
 * `ul_search`: `table_name`; `prefix` (default: every AoR); `limit` (default 50, at most
 * `UL_SEARCH_MAX_LIMIT`: more is cut to it); `after` (the `next` of the page before). Answers
 * `{ total, limit, next, AORs: [{ AOR, Contacts }] }`, each contact as `ul_show_contact` prints
 * it plus `Node_id`: the cluster node that made the binding's last change (whose registrar
 * took the latest REGISTER for it, or ran the MI command), as replication stamps it.
 */
export function ulSearchCommand(
  location: Location,
  table: string,
  show: (c: ContactRecord, now: number) => Record<string, unknown>,
): MiCommand {
  let keys: SortedKeys | undefined;
  return defineCommand({
    name: 'ul_search',
    readOnly: true,
    namedOnly: true,
    recipes: SEARCH_RECIPES,
    module: 'usrloc',
    description: 'AORs starting with a prefix, a page at a time, with their contacts (sipedge)',
    params: z.object({
      table_name: z.string(),
      prefix: z.string().max(256).optional(),
      limit: z.coerce.number().int().min(1).optional(),
      after: z.string().max(256).optional(),
    }),
    handler: ({ table_name, prefix, limit, after }) => {
      if (table_name !== table) throw new MiCommandError(404, 'Table not found');
      keys ??= indexOf(location);
      const size = Math.min(limit ?? DEFAULT_LIMIT, UL_SEARCH_MAX_LIMIT);
      const page = pageOf(keys, prefixOf(prefix ?? ''), size, after);
      const now = location.clock.now();
      return {
        total: page.total,
        limit: size,
        next: page.next,
        AORs: page.aors.map((aor) => ({
          AOR: aor,
          Contacts: location.contacts(aor).map((c) => ({ ...show(c, now), Node_id: c.nodeId })),
        })),
      };
    },
  });
}
