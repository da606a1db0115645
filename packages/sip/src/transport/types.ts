/** The shapes of the SIP transports: flows, their options and what they count. */

import type { ConnectionOptions } from 'node:tls';
import type { Clock, Logger } from '@sipedge/core';
import type { SipParseError } from '../errors.js';
import type { SipMessage } from '../message/message.js';
import type { Endpoint } from '../transaction/layer.js';

export type TransportName = 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS';

/** A connection (or, for UDP, the listening socket and a remote address). */
export interface Flow {
  readonly id: string;
  readonly transport: TransportName;
  readonly remote: { readonly address: string; readonly port: number };
  readonly local: { readonly address: string; readonly port: number };
}

export interface TransportsOptions {
  /** Every message that parsed; `from.flow` names the connection it arrived on. */
  readonly onMessage: (msg: SipMessage, from: Endpoint) => void;
  /**
   * Every message that did not parse (after it was counted, and a request answered 400 where
   * its Via, From, To, Call-ID and CSeq rows could be read). Without it, a debug line.
   */
  readonly onParseError?: (err: SipParseError, from: Endpoint) => void;
  readonly logger?: Logger;
  /** Largest message (default 65,535). */
  readonly maxMessageBytes?: number;
  /** Largest header block on streams (default 16,384). */
  readonly maxHeaderBytes?: number;
  /**
   * A stream whose message is still partial this long after its first byte is closed
   * (slow-loris; Kamailio `tcp_msg_read_timeout`; default 10,000 ms). More bytes of the same
   * message do not restart it.
   */
  readonly partialTimeoutMs?: number;
  /**
   * Most simultaneous connections, WebSocket handshakes included (default 4,096). At the cap a
   * new inbound connection evicts one of the source holding the most (see ConnectionLimits).
   */
  readonly maxConnections?: number;
  /** Most inbound connections from one source address (Kamailio `tcp_accept_iplimit`; default 64; 0 = no cap). */
  readonly maxConnectionsPerSource?: number;
  /**
   * A connection with no complete message (or keep-alive) either way for this long is closed
   * (`tcp_connection_lifetime`; default 120,000 ms; 0 = never).
   */
  readonly connectionLifetimeMs?: number;
  /** A WebSocket connection not upgraded this long after it was accepted is closed (default 10,000 ms). */
  readonly wsHandshakeTimeoutMs?: number;
  /** Time for the limits above (default the monotonic clock). */
  readonly clock?: Clock;
  /** UDP socket receive and send buffer (default 4 MiB; 0 = the system default). */
  readonly udpBufferBytes?: number;
  /**
   * Options of the TLS connections `send` opens (CA list, verification, our certificate);
   * default Node's: the server's certificate must verify against Node's root CAs.
   */
  readonly tlsClient?: ConnectionOptions;
}

/** A stream connection's flow, with its writer. */
export interface StreamFlow extends Flow {
  write(data: Buffer): void;
  close(): void;
}

/** Counted drops, for metrics. */
export interface TransportCounters {
  parseErrors: number;
  /** Streams closed for a framing limit (header block, body) or the message deadline. */
  closedForLimits: number;
  /** Of those, closed by the message deadline (slow-loris). */
  closedMessageTimeout: number;
  /** Connections refused: every slot held and none could be evicted. */
  refusedConnections: number;
  /** Inbound TLS/WSS handshakes that failed (no common version, a client certificate refused…). */
  tlsHandshakeErrors: number;
  /** Connections refused: their source held `maxConnectionsPerSource`. */
  refusedPerSource: number;
  /** Connections closed to make room for a newcomer at the global cap. */
  evictedConnections: number;
  /** Connections closed after `connectionLifetimeMs` without a message. */
  closedIdle: number;
  /** WebSocket connections closed for not upgrading in time. */
  closedHandshakeTimeout: number;
}

/** A host without IPv6 brackets. */
export function bare(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}
