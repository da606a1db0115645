/** What RtppServer is given and what it reports: options, handlers, request context, stats. */
import type { Clock, Logger } from '@sipedge/core';
import type { ParseCommandOptions } from '../codec/parse-command.js';
import type { RtppTransport } from '../framing/socket-spec.js';
import type { RtppCommand, RtppReply } from '../types.js';

/** Where a command came from. */
export interface RtppRequestContext {
  readonly transport: RtppTransport;
  /** The listening socket's spec as given in `sockets`. */
  readonly socket: string;
  /** The sender (udp/tcp); absent on unix sockets. Its address is what `%%CC_SELF%%` means. */
  readonly peer?: { readonly address: string; readonly port: number };
  /** The UDP cookie. */
  readonly cookie?: string;
}

export type RtppHandler = (
  command: RtppCommand,
  context: RtppRequestContext,
) => RtppReply | Promise<RtppReply>;

/**
 * Answers a command from its text, before it is parsed: the reply body (ending in `\n`, as
 * `serializeReply` writes it), or undefined to let the command be parsed and go to the handler.
 * A handler may instead return `true` and call `respond` with the reply body later, exactly once
 * (no promise per command: a balancer's fast path).
 */
export type RtppTextHandler = (
  text: string,
  context: RtppRequestContext,
  respond: (body: string) => void,
) => string | Promise<string> | true | undefined;

export interface RtppServerOptions {
  /** Socket specs: `udp:127.0.0.1:22222`, `udp6:[::1]:0`, `unix:/path`, `cunix:/path`, `tcp:…`. */
  readonly sockets: readonly string[];
  readonly handler: RtppHandler;
  /**
   * Tried first for every command text (retransmit cache, framing and counters as for the
   * handler). A balancer uses it to forward plain commands as text, without building command
   * and reply objects; whatever it declines (undefined) is parsed and handled as usual. A throw
   * or rejection is answered like a failing handler's. It may answer through its `respond`
   * argument instead of a promise (return `true`).
   */
  readonly textHandler?: RtppTextHandler;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /**
   * How long a UDP reply stays cached for retransmits: between this and twice this (rtpproxy
   * keeps ~35 s).
   */
  readonly replyCacheMs?: number;
  /** Most cached UDP replies (oldest evicted first). */
  readonly maxCachedReplies?: number;
  /** Largest datagram and unix-socket command accepted. */
  readonly maxDatagram?: number;
  /** Longest cunix/tcp line; a longer one drops the connection. */
  readonly maxLine?: number;
  /** Most stream connections open at once (unix, cunix, tcp together); rtpproxy: 100. */
  readonly maxConnections?: number;
  /** Most tcp connections one source address holds open, default 16 (unix/cunix: no cap). */
  readonly maxConnectionsPerSource?: number;
  /**
   * Addresses and CIDR blocks (`10.0.0.0/24`, `fd00::1`) udp and tcp commands are taken from;
   * default `LOOPBACK_SOURCES` (127.0.0.0/8 and ::1). A datagram from elsewhere is dropped
   * unanswered, a connection closed at once. unix and cunix sockets are guarded by their file's
   * permissions, not by this list. `['0.0.0.0/0', '::/0']` takes every sender.
   */
  readonly allowedSources?: readonly string[];
  /** Commands of one stream connection being handled at once before reading pauses. */
  readonly maxPipelined?: number;
  /**
   * A unix/cunix/tcp connection idle this long is closed (0 = never). Default 10 s on unix (one
   * command per connection), 120 s on cunix and tcp (OpenSIPS's `tcp_connection_lifetime`).
   */
  readonly idleTimeoutMs?: number;
  /** The `E<n>` answered when the handler throws (default 89, rtpproxy's internal failure). */
  readonly internalErrorCode?: number;
  /**
   * Rewrites the `E<n>` answered for a command that does not parse (rtpproxy's own codes by
   * default). A balancer uses it so that a client's mistake never gets E7–E10, which OpenSIPS
   * reads as "this rtpproxy is broken" and disables it for a minute.
   */
  readonly parseErrorCode?: (code: number) => number;
  /** How long `stop()` waits for commands still being handled. */
  readonly stopTimeoutMs?: number;
  readonly parse?: ParseCommandOptions;
}

/** A bound socket, with the port the OS chose when 0 was asked. */
export interface RtppBoundAddress {
  readonly transport: RtppTransport;
  /** The spec as configured. */
  readonly configured: string;
  /** The spec with the real port: pass it to an RtppClient. */
  readonly spec: string;
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
}

export interface RtppServerStats {
  /** Datagrams, unix connections with data, and stream lines received. */
  received: number;
  /** UDP retransmits answered from the cache. */
  duplicates: number;
  /** UDP retransmits dropped because the first copy was still being handled. */
  inProgressDrops: number;
  /** Commands answered with `E<n>` because they did not parse. */
  errors: number;
  /** Handler calls that threw, rejected or returned something that is not a reply. */
  handlerErrors: number;
  /** Replies sent (cached re-sends included). */
  replied: number;
  /** Datagrams, unix commands and stream lines over the size limit (dropped). */
  oversize: number;
  /** Stream connections accepted. */
  connections: number;
  /** Stream connections refused because `maxConnections` were open. */
  rejectedConnections: number;
  /** Datagrams and connections dropped because their source is not allowed. */
  refusedSources: number;
  /** tcp connections refused because their source held `maxConnectionsPerSource`. */
  sourceLimitedConnections: number;
  /** Stream connections closed after `idleTimeoutMs` without a byte. */
  idleClosed: number;
  /** Replies in the UDP cache now. */
  cached: number;
  /** Commands being handled now. */
  inFlight: number;
  /** Stream connections open now. */
  openConnections: number;
}
