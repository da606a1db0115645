export { isPrivateAddress } from '@sipedge/sip';
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
export { MediaAnchor } from './media.js';
export { MetricsServer, promName, statisticsRegistry } from './metrics.js';
export { behindNat, fixNatedContact } from './nat.js';
export {
  type ClusterNode,
  type ReloadOutcome,
  type StartNodeOptions,
  startNode,
} from './node.js';
export { Router, type RouterOptions } from './router.js';
export {
  type EdgeHandler,
  type EdgeInterface,
  type Hop,
  SipEdge,
  type SipListenerInfo,
} from './sip-edge.js';
