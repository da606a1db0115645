export {
  IMPLEMENTED_FEATURES,
  QUERY_NAMES,
  STAT_NAMES,
  type StatName,
} from './engine/capabilities.js';
export { MediaEngine, type MediaEngineOptions } from './engine/engine.js';
export type { SessionInfo } from './engine/session.js';
export type { CommandContext } from './engine/update.js';
export { MemoryNetwork } from './media/memory.js';
export { PortRange } from './media/ports.js';
export {
  type MediaSocket,
  type MediaTransport,
  type PacketHandler,
  udpMediaTransport,
} from './media/transport.js';
export {
  CC_SELF,
  type Notifier,
  type NotifyAllowEntry,
  type NotifyDestination,
  parseNotifySpec,
  resolveNotifySocket,
  StreamNotifier,
} from './notify/notify.js';
export { type Relay, type RelayOptions, startRelay } from './relay.js';
