export {
  applyEnvOverrides,
  ENV_PREFIX,
  loadNodeConfig,
  type NodeConfig,
  NodeConfigError,
  nodeConfigSchema,
  parseAddress,
  parseNodeConfig,
  parseSharingTagText,
  type RelayConfig,
} from './config.js';
export { createLogger, logFormat, prettyAvailable } from './logger.js';
export { MetricsServer, promName, statisticsRegistry } from './metrics.js';
export {
  type ClusterNode,
  type ReloadOutcome,
  rtpClusterConfigFrom,
  type StartNodeOptions,
  startNode,
} from './node.js';
export { SipEdge, type SipListenerInfo, type SipRequestHandler } from './sip-edge.js';
