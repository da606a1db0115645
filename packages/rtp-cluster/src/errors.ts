import { SipedgeError } from '@sipedge/core';

/**
 * Errors of @sipedge/rtp-cluster: `SipedgeError`s with `RTP_CLUSTER_…` codes
 * (`RTP_CLUSTER_CONFIG`, `RTP_CLUSTER_ARGUMENT`, `RTP_CLUSTER_TIMEOUT`, `RTP_CLUSTER_PROTOCOL`,
 * `RTP_CLUSTER_SOCKET`).
 */
export class RtpClusterError extends SipedgeError {}
