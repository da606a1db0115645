/** The node's embedded balancer over MI (`rtp_cluster_list`): the state of each relay. */
import { until } from '@sipedge/test-utils';
import type { E2eNode } from './node.js';

interface RtpList {
  Clusters: Array<{ members: Array<{ name: string; state: string }> }>;
}

/** Each relay of the node's balancer with its state (`online`, `offline` …). */
export async function relayStates(node: E2eNode): Promise<Map<string, string>> {
  const r = await node.call<RtpList>('rtp_cluster_list');
  return new Map((r.Clusters[0]?.members ?? []).map((m) => [m.name, m.state]));
}

/** Resolves once the balancer shows every relay online. */
export async function relaysOnline(node: E2eNode): Promise<void> {
  await until(async () => [...(await relayStates(node)).values()].every((s) => s === 'online'), {
    what: 'every relay online',
  });
}

/** Resolves once the balancer no longer shows relay `name` online. */
export async function relayOffline(node: E2eNode, name: string): Promise<void> {
  await until(async () => (await relayStates(node)).get(name) !== 'online', {
    what: `${name} offline in the balancer`,
  });
}
