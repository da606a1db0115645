export { SIPEDGE_AUTH_CAP } from './auth/hello.js';
export { MIN_SECRET_LENGTH } from './auth/link-auth.js';
export { REFUSAL_REASONS, type RefusalReason } from './auth/refusals.js';
export * from './bin/index.js';
export { Clusterer } from './clusterer.js';
export {
  type ClustererConfig,
  clustererConfigSchema,
  clustererOptionsFromConfig,
  parseClustererConfig,
} from './config.js';
export {
  BinDecodeError,
  type BinDecodeReason,
  ClustererConfigError,
  ClustererError,
} from './errors.js';
export type {
  ClustererEvents,
  ExtraPacketEvent,
  GenericMessageEvent,
  MiCommandEvent,
  NodeStateEvent,
} from './events.js';
export type { ReplicationChannel } from './messaging/channel.js';
export type {
  CapabilityHandlers,
  ModulePacket,
  ModulePayload,
} from './messaging/messages.js';
export { SendResult } from './messaging/router.js';
export {
  ClustererMi,
  type ClustererMiOptions,
  DONORLESS_SYNC_EVENT,
  MI_RESULT_TAG,
  miCommands,
  NODE_STATE_EVENT,
  REQ_RECEIVED_EVENT,
  RPL_RECEIVED_EVENT,
  SHTAG_CHANGED_EVENT,
} from './mi/commands.js';
export type { RemoteMiResult } from './mi/remote-results.js';
export type { ClusterState } from './nodes/clusters.js';
export {
  addressKey,
  type BinAddress,
  type NodeConfig,
  parseBinUrl,
  parseNodeInfo,
} from './nodes/node-info.js';
export { LinkState, type NodeView, RemoteNode } from './nodes/remote-node.js';
export { CLUSTERER_TABLE_SQL, type NodeStore, SqliteNodeStore } from './nodes/store.js';
export type { ClustererOptions } from './options.js';
export type { BinConnection, BinTransport, PacketSource, TransportHandler } from './runtime.js';
export {
  type CapabilityOptions,
  CapStatus,
  type CapStatusEvent,
  capStatusLabel,
  type SyncCondition,
  type SyncMeta,
  type SyncSource,
  type SyncWriter,
} from './sync/capability.js';
export type { DonorlessSyncEvent } from './sync/donorless.js';
export type { SyncOptions } from './sync/host.js';
export { SIPEDGE_SYNC_CAP } from './sync/wire.js';
export {
  type FailoverOptions,
  MAX_SHTAGS,
  parseSharingTag,
  parseTagKey,
  SHTAG_CLAIM_CAP,
  SharingTags,
  type ShtagChangeEvent,
  type ShtagState,
  type ShtagView,
} from './tags/sharing-tags.js';
export { computeRoutes, type RouteGraph, type RouteTable } from './topology/routing.js';
export { newerStamp, type Stamp } from './topology/stamp.js';
export { type BinTlsOptions, TcpBinTransport, type TcpTransportOptions } from './transport/tcp.js';
