import type { RoutedPacket } from './bin/packet.js';
import type { CapStatusEvent } from './sync/capability.js';
import type { DonorlessSyncEvent } from './sync/donorless.js';
import type { ShtagChangeEvent } from './tags/sharing-tags.js';

/** A node became reachable or unreachable (NODE_UP / NODE_DOWN), not a direct link change. */
export interface NodeStateEvent {
  clusterId: number;
  nodeId: number;
  up: boolean;
}

/** A GENERIC_MSG request or reply (`E_CLUSTERER_REQ_RECEIVED` / `E_CLUSTERER_RPL_RECEIVED`). */
export interface GenericMessageEvent {
  clusterId: number;
  srcId: number;
  msg: string;
  tag: string;
}

/** An MI_CMD from another node, to be run here. */
export interface MiCommandEvent {
  clusterId: number;
  srcId: number;
  command: string;
  params: string[];
}

/** A clusterer-extra packet for this node that no part of the clusterer handles. */
export interface ExtraPacketEvent {
  clusterId: number;
  packet: RoutedPacket;
}

/** The events a Clusterer emits, with their listeners' arguments. */
export interface ClustererEvents {
  node_state: [NodeStateEvent];
  request: [GenericMessageEvent];
  reply: [GenericMessageEvent];
  mi_cmd: [MiCommandEvent];
  extra: [ExtraPacketEvent];
  cap_status: [CapStatusEvent];
  donorless_sync: [DonorlessSyncEvent];
  shtag_changed: [ShtagChangeEvent];
}
