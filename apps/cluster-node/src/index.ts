export {
  applyEnvOverrides,
  ENV_PREFIX,
  loadNodeConfig,
  type NodeConfig,
  NodeConfigError,
  nodeConfigSchema,
  parseAddress,
  parseBinListenUrl,
  parseNodeConfig,
  parseSharingTagText,
  type RelayConfig,
  type RtpSection,
  rtpClusterConfigFrom,
} from './config.js';
export { type HookOutcome, runHaHook } from './ha-hooks.js';
export { createLogger, logFormat, prettyAvailable } from './logger.js';
export { MetricsServer, promName, statisticsRegistry } from './metrics.js';
export {
  type ClusterNode,
  type ReloadOutcome,
  type StartNodeOptions,
  startNode,
} from './node.js';
export { SipEdge, type SipListenerInfo, type SipRequestHandler } from './sip-edge.js';
