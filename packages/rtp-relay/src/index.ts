export { type Clock, ManualClock, systemClock } from './engine/clock.js';
export {
  type CommandContext,
  IMPLEMENTED_FEATURES,
  MediaEngine,
  type MediaEngineOptions,
  QUERY_NAMES,
  type SessionInfo,
  STAT_NAMES,
  type StatName,
} from './engine/engine.js';
export { type Logger, silentLogger } from './engine/logger.js';
export { MemoryNetwork } from './engine/memory.js';
export {
  CC_SELF,
  type Notifier,
  type NotifyAllowEntry,
  type NotifyDestination,
  parseNotifySpec,
  resolveNotifySocket,
  StreamNotifier,
} from './engine/notify.js';
export { PortRange } from './engine/ports.js';
export {
  type MediaSocket,
  type MediaTransport,
  type PacketHandler,
  udpMediaTransport,
} from './engine/transport.js';
export { type Relay, type RelayOptions, startRelay } from './relay.js';
