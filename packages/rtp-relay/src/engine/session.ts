/**
 * A relay session: one call-id + from-tag (with its `;N` media number) and, once known, a
 * to-tag. It has two legs: leg 0 faces the party named by the session's from-tag (the caller),
 * leg 1 the other party. Each leg owns an RTP/RTCP socket pair; the party of leg i sends to leg
 * i's ports and receives from them (symmetric RTP). A packet that arrives on leg i is sent out
 * of the other leg's socket to the other party's address: the source of the first packet that
 * party sent (latching), or until then the address given in U/L.
 */

import type { MediaSocket } from '../media/transport.js';
import type { NotifyDestination } from '../notify/notify.js';

export interface Endpoint {
  address: string;
  port: number;
}

/** RTP or RTCP of one leg. */
export interface Stream {
  socket: MediaSocket | undefined;
  /** Where packets for this leg's party go: latched source, else the U/L address. */
  peer: Endpoint | undefined;
  /** The address given in U/L (RTCP: port + 1). */
  given: Endpoint | undefined;
  latched: boolean;
  /** Packets received on this leg. */
  received: number;
  /** Packets received here and sent on to the other party. */
  relayed: number;
  /** Packets received here and not sent on (no peer yet, on hold, wrong source, too big). */
  dropped: number;
}

export interface Leg {
  port: number;
  family: 4 | 6;
  rtp: Stream;
  rtcp: Stream;
  asymmetric: boolean;
  onHold: boolean;
  weak: boolean;
  codecs: readonly number[] | undefined;
}

/** Where the timeout notification of a session goes (from the notify arguments of its last U). */
export interface SessionNotify {
  readonly destination: NotifyDestination;
  readonly tag: string;
}

export interface Session {
  readonly id: number;
  readonly callId: string;
  readonly fromTag: string;
  toTag: string | undefined;
  readonly legs: [Leg, Leg];
  strong: boolean;
  readonly created: number;
  lastActivity: number;
  /** Set by packets, folded into lastActivity by the once-a-second sweep (cheap hot path). */
  active: boolean;
  notify: SessionNotify | undefined;
  destroyed: boolean;
  /** Who created it: the creating U's source address, `local` for unix sockets. */
  readonly source: string;
}

/** A snapshot of one session, for logs, tests and the daemon. */
export interface SessionInfo {
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag: string | undefined;
  readonly legs: readonly {
    readonly port: number;
    readonly peer: string | undefined;
    readonly latched: boolean;
    readonly rtp: { readonly received: number; readonly relayed: number; readonly dropped: number };
    readonly rtcp: {
      readonly received: number;
      readonly relayed: number;
      readonly dropped: number;
    };
  }[];
}

function newStream(): Stream {
  return {
    socket: undefined,
    peer: undefined,
    given: undefined,
    latched: false,
    received: 0,
    relayed: 0,
    dropped: 0,
  };
}

export function newLeg(family: 4 | 6): Leg {
  return {
    port: 0,
    family,
    rtp: newStream(),
    rtcp: newStream(),
    asymmetric: false,
    onHold: false,
    weak: false,
    codecs: undefined,
  };
}

/** rtpproxy's tag comparison: exact, or a plain tag against the part before `;`. */
export function tagMatches(sessionTag: string, tag: string): boolean {
  if (sessionTag === tag) return true;
  if (tag.includes(';')) return false;
  const semi = sessionTag.indexOf(';');
  return (
    semi >= 0 && sessionTag.length > tag.length && semi === tag.length && sessionTag.startsWith(tag)
  );
}

/** `host:port`, `[v6]:port`, or undefined. */
export const formatEndpoint = (e: Endpoint | undefined): string | undefined =>
  e === undefined
    ? undefined
    : e.address.includes(':')
      ? `[${e.address}]:${e.port}`
      : `${e.address}:${e.port}`;

export function sessionInfo(s: Session): SessionInfo {
  return {
    callId: s.callId,
    fromTag: s.fromTag,
    toTag: s.toTag,
    legs: s.legs.map((l) => ({
      port: l.port,
      peer: formatEndpoint(l.rtp.peer),
      latched: l.rtp.latched,
      rtp: { received: l.rtp.received, relayed: l.rtp.relayed, dropped: l.rtp.dropped },
      rtcp: { received: l.rtcp.received, relayed: l.rtcp.relayed, dropped: l.rtcp.dropped },
    })),
  };
}
