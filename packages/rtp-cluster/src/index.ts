export * from './admin.js';
export * from './admin-client.js';
export * from './admin-server.js';
export * from './balancer.js';
export * from './calls/call-table.js';
export * from './cluster/cluster.js';
export type {
  ClusterCounters,
  Logger,
  RtpClusterEvent,
  RtpClusterOptions,
} from './cluster/options.js';
export { balancerParseErrorCode } from './cluster/replies.js';
export * from './cluster/select.js';
export * from './config/schema.js';
export * from './config/xml.js';
export * from './errors.js';
export * from './member.js';
export * from './mi.js';
export * from './notify-relay.js';
