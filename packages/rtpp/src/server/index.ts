export {
  type RtppBoundAddress,
  type RtppHandler,
  type RtppRequestContext,
  RtppServer,
  type RtppServerOptions,
  type RtppServerStats,
} from './server.js';
