/** Sharing tags over MI (`clusterer_list_shtags`, OpenSIPS shapes) for comparing nodes. */
import type { Cluster } from './cluster.js';

type Shtags = Array<{ Tag: string; Cluster: number; State: string }>;

/** The state of `tag` (`name/cluster_id`) on each running node; `unknown` where it has none. */
export async function tagStates(cluster: Cluster, tag: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const n of cluster.running) {
    const list = await n.call<Shtags>('clusterer_list_shtags');
    out.set(n.id, list.find((t) => `${t.Tag}/${t.Cluster}` === tag)?.State ?? 'unknown');
  }
  return out;
}

/** The running nodes on which `tag` is active. */
export async function activeOwners(cluster: Cluster, tag = 'vip/1'): Promise<number[]> {
  return [...(await tagStates(cluster, tag))].filter(([, s]) => s === 'active').map(([id]) => id);
}
