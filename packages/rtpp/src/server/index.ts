export type {
  RtppBoundAddress,
  RtppHandler,
  RtppRequestContext,
  RtppServerOptions,
  RtppServerStats,
  RtppTextHandler,
} from './options.js';
export { RtppServer } from './server.js';
export {
  commandSource,
  LOOPBACK_SOURCES,
  parseSourceList,
  reachableBeyondLoopback,
} from './sources.js';
