export { type AorOptions, canonicalAor } from './aor.js';
export { ReplDecodeError, ReplWriter } from './cluster/bytes.js';
export {
  appendSyncRecord,
  appendSyncTombstone,
  decodeChange,
  decodeSyncChunk,
  decodeSyncItem,
  encodeChange,
  encodeSyncRecord,
  encodeSyncTombstone,
  PacketType,
  type ReplChange,
  SyncBatchEncoder,
  type SyncItem,
  USRLOC_REPL_VERSION,
} from './cluster/codec.js';
export {
  type ReplCounters,
  USRLOC_REPL_CAP,
  UsrlocReplicator,
  type UsrlocReplicatorOptions,
} from './cluster/replicator.js';
export {
  parseUsrlocConfig,
  persistenceOptionsFromConfig,
  registrarOptionsFromConfig,
  type UsrlocConfig,
  usrlocConfigSchema,
} from './config.js';
export { UsrlocError } from './errors.js';
export type {
  AorCommit,
  ChangeReason,
  ContactChange,
  RemoteChange,
} from './location/changes.js';
export { contactEventParams, USRLOC_EVENTS } from './location/events.js';
export { Location, type LocationOptions } from './location/location.js';
export { newerVersion, type TombstoneEntry } from './location/tombstones.js';
export {
  miCommands,
  miContact,
  registerReplicationStatistics,
  type UsrlocMiOptions,
} from './mi.js';
export {
  ContactIdGenerator,
  type ContactRecord,
  FLAG_NAT,
  FLAG_REMOVE_ON_TIMEOUT,
  isValid,
  remainingSeconds,
} from './model.js';
export {
  NatPinger,
  type NatPingerOptions,
  type PingKind,
  type PingReply,
  type PingRequest,
} from './pinger.js';
export type { Branch, PathMode, RegisterContext, RegistrarOptions } from './registrar/options.js';
export { Registrar } from './registrar/registrar.js';
export {
  createContactStore,
  type PersistenceMode,
  type PersistenceOptions,
} from './store/create.js';
export { MemoryStore } from './store/memory.js';
export { type SqliteMode, SqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export type { ChangeBatch, ContactStore } from './store/store.js';
