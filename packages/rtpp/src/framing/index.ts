export {
  decodeCommandDatagram,
  decodeReplyDatagram,
  encodeCommandDatagram,
  encodeReplyDatagram,
  MAX_DATAGRAM,
  type RtppDatagramFrame,
} from './datagram.js';
export {
  formatSocketSpec,
  isDatagramTransport,
  isLocalSocketSpec,
  parseSocketSpec,
  RTPP_DEFAULT_PORT,
  type RtppInetSocketSpec,
  type RtppInetTransport,
  type RtppLocalSocketSpec,
  type RtppLocalTransport,
  type RtppSocketSpec,
  type RtppTransport,
} from './socket-spec.js';
export {
  MAX_STREAM_LINE,
  RtppLineDecoder,
  type RtppLineDecoderOptions,
  type RtppLineResult,
} from './stream.js';
