/** usrloc views over MI (`ul_dump`, OpenSIPS shapes) for comparing nodes. */
import { type NotYet, notYet, until } from '@sipedge/test-utils';
import type { E2eNode } from './node.js';

export interface UlContact {
  Contact: string;
  Path?: string;
  Expires: number | string;
  Received?: string;
  [k: string]: unknown;
}

interface UlDump {
  Domains: Array<{ name: string; AORs: Array<{ AOR: string; Contacts?: UlContact[] }> }>;
}

/** Every AOR with its contacts, as the node's `ul_dump` shows them. */
export async function locations(node: E2eNode): Promise<Map<string, UlContact[]>> {
  const r = await node.call<UlDump>('ul_dump');
  const out = new Map<string, UlContact[]>();
  for (const d of r.Domains) for (const a of d.AORs) out.set(a.AOR, a.Contacts ?? []);
  return out;
}

/** The AORs only (`ul_dump brief=1`), cheap enough for 100,000 bindings. */
export async function aors(node: E2eNode): Promise<Set<string>> {
  const r = await node.call<UlDump>('ul_dump', { brief: 1 });
  const out = new Set<string>();
  for (const d of r.Domains) for (const a of d.AORs) out.add(a.AOR);
  return out;
}

/** A stable text of a node's locations (contact URI, Path), for equality across nodes. */
export async function locationDigest(node: E2eNode): Promise<string> {
  const l = await locations(node);
  return [...l]
    .map(
      ([aor, cs]) =>
        `${aor}=${cs
          .map((c) => `${c.Contact}|${c.Path ?? ''}`)
          .sort()
          .join(',')}`,
    )
    .sort()
    .join('\n');
}

/** The AORs of `users` missing from `have` (AORs without a domain: `use_domain` is off). */
export function missing(users: Iterable<string>, have: Set<string>): string[] {
  const out: string[] = [];
  for (const u of users) if (!have.has(u)) out.push(u);
  return out;
}

/** Usrloc capability sync state on a node (`clusterer_list_cap`). */
export async function usrlocSynced(node: E2eNode): Promise<true | NotYet> {
  const r = await node.call<{
    Clusters: Array<{ Capabilities: Array<{ name: string; state: string; sync_state: string }> }>;
  }>('clusterer_list_cap', { detail: 1 });
  const cap = r.Clusters[0]?.Capabilities.find((c) => c.name === 'usrloc-contact-repl');
  if (cap === undefined) return notYet('no usrloc-contact-repl capability');
  return cap.state === 'Ok' || notYet(`${cap.state} (${cap.sync_state})`);
}

/** Waits (up to 20 s each) until every node in `ids` holds every user in `users`. */
export async function holdEvery(
  nodes: (id: number) => E2eNode,
  ids: readonly number[],
  users: Iterable<string>,
): Promise<void> {
  const want = [...users];
  for (const id of ids) {
    await until(
      async () => {
        const lost = missing(want, await aors(nodes(id)));
        return (
          lost.length === 0 || notYet(`${lost.length} missing, e.g. ${lost.slice(0, 5).join(',')}`)
        );
      },
      { what: `node ${id} to hold every acknowledged registration`, timeoutMs: 20_000 },
    );
  }
}
