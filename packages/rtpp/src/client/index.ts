export {
  commandKindOf,
  RtppClient,
  type RtppClientOptions,
  type RtppClientStats,
  type RtppProbeResult,
  type RtppSendOptions,
} from './client.js';
export {
  dgramTransport,
  type RtppDatagramTransport,
  type RtppDatagramTransportFactory,
  type RtppDatagramTransportHandlers,
  type RtppDatagramTransportOptions,
  type RtppReplyCallback,
} from './udp.js';
