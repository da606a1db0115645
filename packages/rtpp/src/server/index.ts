export {
  type RtppBoundAddress,
  type RtppHandler,
  type RtppRequestContext,
  RtppServer,
  type RtppServerOptions,
  type RtppServerStats,
  type RtppTextHandler,
} from './server.js';
