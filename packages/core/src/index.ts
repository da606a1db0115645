export { ChurnMap } from './churn-map.js';
export { type Clock, monotonicClock, systemClock, type TimerHandle } from './clock.js';
export { SipedgeError } from './errors.js';
export { FNV1A_OFFSET, FNV1A_PRIME, fnv1a, fnv1aBytes, fnv1aPair } from './hash.js';
export { LogLimiter, type LogLimiterOptions } from './log-limiter.js';
export { type Logger, noopLogger } from './logger.js';
export { literalFirstLookup } from './lookup.js';
export {
  LOCAL_SOURCE,
  parseHostPort,
  plainAddress,
  SourceCounts,
  sourceOf,
} from './source.js';
export {
  loadTlsMaterial,
  type TlsCertificateInfo,
  TlsConfigError,
  type TlsMaterial,
  type TlsMinVersion,
  type TlsSettings,
  type TlsVerifyClient,
} from './tls.js';
