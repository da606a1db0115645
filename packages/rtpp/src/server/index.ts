export type {
  RtppBoundAddress,
  RtppHandler,
  RtppRequestContext,
  RtppServerOptions,
  RtppServerStats,
  RtppTextHandler,
} from './options.js';
export { RtppServer } from './server.js';
export { LOOPBACK_SOURCES, parseSourceList, sourceOf } from './sources.js';
