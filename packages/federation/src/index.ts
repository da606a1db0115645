export {
  type FederationConfig,
  federationConfigSchema,
  parseFederationConfig,
} from './config.js';
export { FederationError, type FederationErrorCode } from './errors.js';
export {
  FEDERATION_DEGRADED_EVENT,
  FEDERATION_RESTORED_EVENT,
  Federation,
  type FederationOptions,
  type FederationStatus,
  type RemoteSite,
} from './federation.js';
export { type LookupCounts, SiteLookup, type SiteLookupOptions } from './lookup/lookup.js';
export { federationMiCommands } from './mi/commands.js';
export { siteExpiry } from './presence.js';
export {
  PresencePublisher,
  type PresenceSource,
  type PublisherCounts,
  type PublisherOptions,
} from './publisher/publisher.js';
export { MemoryPresenceStore } from './store/memory-store.js';
export { DirectRedisPresenceStore, type RedisStoreOptions } from './store/redis-store.js';
export { RedisPresenceStore } from './store/redis-worker-store.js';
export {
  type PresenceStore,
  type PresenceWrite,
  presenceKey,
  type SitePresence,
} from './store/store.js';
