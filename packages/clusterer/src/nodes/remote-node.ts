import type { NodeDescription } from '../bin/packet.js';
import type { Stamp } from '../topology/stamp.js';
import { type BinAddress, type NodeConfig, parseBinUrl } from './node-info.js';

/** `clusterer_link_state` of OpenSIPS. */
export const LinkState = {
  UP: 0,
  DOWN: 1,
  RETRY_SEND_FAIL: 2,
  RESTART_PINGING: 3,
  RESTARTED: 4,
  RETRYING: 5,
} as const;
export type LinkState = (typeof LinkState)[keyof typeof LinkState];

/** Link state label as `clusterer_list` shows it. */
export function linkLabel(s: LinkState): 'Up' | 'Down' | 'Probe' {
  return s === LinkState.UP ? 'Up' : s === LinkState.DOWN ? 'Down' : 'Probe';
}

/**
 * A remote node as this process sees it: its configuration, the state of my link to it
 * (links/), what it reported of its own links and capabilities (topology/), and the next hop
 * toward it.
 */
export class RemoteNode {
  readonly id: number;
  url: string;
  addr: BinAddress;
  dbId: number;
  enabled: boolean;
  noPingRetries: number;
  priority: number;
  sipAddr: string;
  seed: boolean;
  description: string;

  link: LinkState = LinkState.RESTART_PINGING;
  lastPing = Number.NEGATIVE_INFINITY;
  lastPong = Number.NEGATIVE_INFINITY;
  lastSent = Number.NEGATIVE_INFINITY;
  retries = 0;
  /** A ping is out and no pong has come back since. */
  awaitingPong = false;
  /** UP, one pong missed, a confirmation ping is out (see README "link rule"). */
  suspect = false;
  /** When we last re-sent our topology to this peer on its list request. */
  lastTopologyResync = Number.NEGATIVE_INFINITY;
  /** Node ids the peer listed in its last PONG. */
  peerKnows = new Set<number>();

  /** The adjacency this node reported (never contains the local node). */
  neighbours = new Set<number>();
  /** Per reported link, the (timestamp, seq) of the newest update about it (last-writer-wins). */
  linkSeq = new Map<number, Stamp>();
  /** Links known only from other nodes' relayed FULL_TOP entries, with that entry's stamp. */
  relayedSeq = new Map<number, Stamp>();
  lsSeq = -1;
  lsTs = 0;
  topSeq = -1;
  topTs = 0;
  capSeq = -1;
  capTs = 0;
  caps = new Map<string, boolean>();

  nextHop: number | undefined;

  constructor(c: NodeConfig) {
    this.id = c.nodeId;
    this.url = c.url;
    this.addr = parseBinUrl(c.url);
    this.dbId = c.dbId;
    this.enabled = c.enabled;
    this.noPingRetries = c.noPingRetries;
    this.priority = c.priority;
    this.sipAddr = c.sipAddr;
    this.seed = c.seed;
    this.description = c.description;
  }

  describe(): NodeDescription {
    return {
      url: this.url,
      sipAddr: this.sipAddr,
      priority: this.priority,
      noPingRetries: this.noPingRetries,
    };
  }
}

/** Public view of a reachable node (`get_nodes` of the clusterer API). */
export interface NodeView {
  nodeId: number;
  url: string;
  sipAddr: string;
  priority: number;
  description: string;
  seed: boolean;
}
