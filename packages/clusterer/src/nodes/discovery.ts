import type { Logger } from '@sipedge/core';
import {
  type ClusterPacket,
  encodePacket,
  type InternalPacket,
  type NodeDescription,
} from '../bin/packet.js';
import { ClustererConfigError } from '../errors.js';
import type { PacketSource } from '../runtime.js';
import { type ClusterState, MAX_NODES_PER_CLUSTER } from './clusters.js';
import { parseBinUrl } from './node-info.js';
import { LinkState, RemoteNode } from './remote-node.js';

/** What discovery needs: sends on links and flooding of the descriptions it takes. */
export interface DiscoveryHost {
  readonly myNodeId: number;
  readonly dbMode: 0 | 1;
  readonly log: Logger;
  count(name: string, n?: number): void;
  /** Send on the link to a neighbour (a failure is a link event). */
  send(cl: ClusterState, node: RemoteNode, packet: Buffer, internal: boolean): boolean;
  flood(cl: ClusterState, p: InternalPacket, path: number[]): void;
}

type NodeDescriptionPacket = Extract<ClusterPacket, { kind: 'node_description' }>;

/**
 * db_mode=0 discovery: a ping from an unknown node gets UNKNOWN_ID, which makes
 * it describe itself in a NODE_DESCRIPTION, flooded to the cluster. sipedge takes a
 * description only from the host it names or through a known node from that node's host.
 */
export class Discovery {
  readonly #host: DiscoveryHost;

  constructor(host: DiscoveryHost) {
    this.#host = host;
  }

  #drop(reason: string): undefined {
    this.#host.count(`drop_${reason}`);
  }

  /** A PING or NODE_DESCRIPTION from a node id the cluster does not know. */
  onUnknown(
    cl: ClusterState,
    p: Extract<ClusterPacket, { kind: 'ping' | 'node_description' }>,
    source: PacketSource,
  ): undefined {
    if (p.kind === 'ping') {
      this.#host.count('unknown_id_sent');
      source.reply(encodePacket({ kind: 'unknown_id', cluster: cl.id, src: this.#host.myNodeId }));
      return;
    }
    if (cl.nodes.size >= MAX_NODES_PER_CLUSTER) return this.#drop('too_many_nodes');
    if (!this.#vouchedFor(cl, p, source.host)) return this.#drop('unvouched_description');
    let node: RemoteNode;
    try {
      node = this.add(cl, p.src, p.description);
    } catch {
      return this.#drop('bad_description');
    }
    this.#host.log.info({ cluster: cl.id, node: node.id, url: node.url }, 'discovered node');
    this.#host.flood(cl, { ...p, path: [...p.path] }, p.path);
  }

  /**
   * Who may introduce a node (the `auth_check` of a description): the node itself, from the
   * host its URL names, or a known node forwarding it (the last hop of the path) from that
   * node's own host. A description from anywhere else would let any sender point a node id at
   * an address it does not live at, cutting that node off until a restart.
   */
  #vouchedFor(cl: ClusterState, p: NodeDescriptionPacket, host: string): boolean {
    const hop = p.path[p.path.length - 1] ?? p.src;
    if (hop === p.src) {
      try {
        return parseBinUrl(p.description.url).host === host;
      } catch {
        return false;
      }
    }
    return cl.nodes.get(hop)?.addr.host === host;
  }

  /** Add a described node to the cluster; throws on a bad id or URL. */
  add(cl: ClusterState, id: number, d: NodeDescription): RemoteNode {
    if (id <= 0 || id === this.#host.myNodeId) throw new ClustererConfigError('bad node id');
    const node = new RemoteNode({
      clusterId: cl.id,
      nodeId: id,
      url: d.url,
      dbId: -1,
      enabled: true,
      noPingRetries: Math.max(0, Math.min(d.noPingRetries, 100)),
      priority: d.priority,
      sipAddr: d.sipAddr,
      seed: false,
      description: '',
    });
    cl.nodes.set(id, node);
    return node;
  }

  /** UNKNOWN_ID from a node: it does not know me yet, so I describe myself to it. */
  onUnknownId(cl: ClusterState, src: RemoteNode): undefined {
    if (this.#host.dbMode !== 0) return;
    const me = cl.me;
    const description = {
      url: me.url,
      sipAddr: me.sipAddr,
      priority: me.priority,
      noPingRetries: me.noPingRetries,
    };
    this.#host.send(
      cl,
      src,
      encodePacket({
        kind: 'node_description',
        cluster: cl.id,
        src: this.#host.myNodeId,
        description,
        path: [this.#host.myNodeId],
      }),
      true,
    );
    if (src.link !== LinkState.UP) src.link = LinkState.RESTART_PINGING;
  }
}
