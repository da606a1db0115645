export {
  PARSE_REASONS,
  type ParseReason,
  SipError,
  SipParseError,
  SipTransportError,
} from './errors.js';
export { type StreamFrame, StreamFramer, type StreamFramerOptions } from './framing/stream.js';
export {
  type ConnectionCloseReason,
  ConnectionLimits,
  type ConnectionLimitsOptions,
  type ConnectionRefusal,
  type TrackedConnection,
} from './limits/connection-limits.js';
export {
  type PikeBlock,
  type PikeCounters,
  PikeDetector,
  type PikeOptions,
  type PikeVerdict,
} from './limits/pike.js';
export { createRequest, createResponse } from './message/create-message.js';
export { canonicalHeaderName, type HeaderField } from './message/header-field.js';
export {
  type Contact,
  type CSeq,
  isQValue,
  type NameAddr,
  nameAddrUri,
  parseContact,
  parseCSeq,
  parseNameAddr,
  parseVia,
  tagOf,
  unquoteInstance,
  type Via,
} from './message/headers.js';
export { dialogIds, SipMessage } from './message/message.js';
export { getParam, type Param, parseParams, splitList } from './message/params.js';
export { type ParseOptions, parseMessage } from './message/parse-message.js';
export {
  formatSipUri,
  isIPv4,
  isIPv6,
  isPrivateAddress,
  isSipUri,
  isTelUri,
  type OtherUri,
  parseUri,
  type SipUri,
  type TelUri,
  type Uri,
  type UriParam,
  unescapeUri,
  uriEquals,
  uriParam,
} from './message/uri.js';
export { validateMessage } from './message/validate-message.js';
export {
  addRecordRoute,
  copyForTarget,
  copyRequest,
  decrementMaxForwards,
  forwardStateless,
  nextHopUri,
  preprocessRoute,
  routeSet,
} from './proxy/forwarding.js';
export {
  type AckForwarding,
  type Forwarding,
  hasSdp,
  type LocalReply,
  type ProxyNetwork,
  type ProxyPolicy,
  type ProxyTarget,
  type RouteDecision,
  type SessionHooks,
} from './proxy/policy.js';
export { cancelFor, isBetterFinal } from './proxy/response-context.js';
export {
  type ProxyCounter,
  type ProxyCounters,
  StatefulProxy,
  type StatefulProxyOptions,
} from './proxy/stateful-proxy.js';
export { checkProxyRequest, type Rejection } from './proxy/validation.js';
export {
  fixTopVia,
  formatVia,
  newBranch,
  responseDestination,
  statelessBranch,
} from './proxy/via.js';
export { type SdpConnection, SdpEditor, type SdpMedia } from './sdp/editor.js';
export {
  type Endpoint,
  type RequestCallbacks,
  TransactionLayer,
  type TransactionLayerOptions,
} from './transaction/layer.js';
export {
  cancelTargetKey,
  clientTransactionKey,
  serverTransactionKey,
} from './transaction/matching.js';
export {
  buildAckForNon2xx,
  type ClientState,
  ClientTransaction,
  type ClientTransactionOptions,
  DEFAULT_TIMERS,
  type ServerState,
  ServerTransaction,
  type ServerTransactionOptions,
  type TimerValues,
} from './transaction/transaction.js';
export { FlowTokenCodec } from './transport/flow-token.js';
export {
  type Flow,
  SipTransports,
  type TransportCounters,
  type TransportName,
  type TransportsOptions,
} from './transport/transports.js';
