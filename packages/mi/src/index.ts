export * from './client/index.js';
export {
  type AnyParams,
  defineCommand,
  MAX_MI_PARAMS,
  type MiCallContext,
  type MiCommand,
  type MiCommandSpec,
  type MiSession,
} from './command.js';
export {
  type CoreCommandsOptions,
  coreCommands,
  LOG_LEVELS,
  type LogLevelControl,
  logLevelControl,
} from './core/commands.js';
export { createMiCore, type MiCore, type MiCoreOptions } from './core/create.js';
export { ctime } from './ctime.js';
export * from './errors.js';
export {
  EventBus,
  type EventBusOptions,
  type EventInfo,
  type EventParams,
  type EventSink,
  eventPayload,
  type SubscriberInfo,
} from './events/bus.js';
export {
  createSocketSinkFactory,
  type EventSocketAddress,
  type EventSocketFactory,
  MAX_EVENT_DATAGRAM,
  parseEventSocket,
  type SocketSinkOptions,
} from './events/sockets.js';
export { type MiCommandInfo, MiRegistry } from './registry.js';
export { ParamsText, RpcCode, RpcMessage, ServerText } from './rpc/codes.js';
export {
  callCommand,
  type HandleOptions,
  handleJsonRpc,
  handleJsonRpcMessage,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcReply,
  type JsonRpcResponse,
} from './rpc/engine.js';
export { bindParams } from './rpc/params.js';
export {
  bearerFromProtocols,
  checkBearer,
  checkBindPolicy,
  isLoopbackHost,
  isOwnLiteralOrigin,
  MI_WS_BEARER_PREFIX,
  MI_WS_PROTOCOL,
  MiSecurityError,
} from './security/policy.js';
export { prometheusHelp, prometheusName, renderPrometheus } from './stats/prometheus.js';
export {
  type Counter,
  type Gauge,
  type LabelledOptions,
  OTHER_SERIES,
  type Series,
  type StatisticInfo,
  type StatisticOptions,
  type StatisticSnapshot,
  StatisticsRegistry,
} from './stats/registry.js';
export {
  SR_MAX_REPORTS,
  SR_STATUS_CHANGED_EVENT,
  SrGroup,
  type SrGroupOptions,
  SrIdentifier,
  type SrReport,
  type SrStatus,
  StatusReportRegistry,
} from './status/registry.js';
export {
  type MiConfig,
  miConfigSchema,
  miServerOptions,
  parseMiConfig,
} from './transport/config.js';
export type { MiPages } from './transport/pages.js';
export { MiServer, type MiServerOptions } from './transport/server.js';
