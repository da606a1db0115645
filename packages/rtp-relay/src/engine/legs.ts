/**
 * The sockets of a session's legs and the packets between them: binding an RTP/RTCP pair for a
 * leg from the port range, closing it, and the media hot path — a packet that arrives on one leg
 * is latched (symmetric RTP) and sent out of the other leg's socket to the other party.
 */
import type { Logger } from '@sipedge/core';
import type { PortRange } from '../media/ports.js';
import type { MediaSocket, MediaTransport } from '../media/transport.js';
import type { EngineStats } from './capabilities.js';
import { formatEndpoint, type Leg, type Session } from './session.js';

export interface LegSocketsOptions {
  readonly transport: MediaTransport;
  readonly ports: PortRange;
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
  /** Packets longer than this are dropped and counted. */
  readonly maxPacket: number;
  readonly stats: EngineStats;
  readonly log: Logger;
}

export class LegSockets {
  readonly #transport: MediaTransport;
  readonly #ports: PortRange;
  readonly #ipv4: string | undefined;
  readonly #ipv6: string | undefined;
  readonly #maxPacket: number;
  readonly #stats: EngineStats;
  readonly #log: Logger;
  #packetsOut = 0;

  constructor(options: LegSocketsOptions) {
    this.#transport = options.transport;
    this.#ports = options.ports;
    this.#ipv4 = options.ipv4;
    this.#ipv6 = options.ipv6;
    this.#maxPacket = options.maxPacket;
    this.#stats = options.stats;
    this.#log = options.log;
  }

  /** Packets sent on to a party (I's `packets transmitted`). */
  get packetsOut(): number {
    return this.#packetsOut;
  }

  /** Port pairs bound now. */
  get portsInUse(): number {
    return this.#ports.inUse;
  }

  /** Binds a fresh RTP/RTCP pair for `leg`, releasing the old one once the new one is up. */
  async bind(session: Session, leg: Leg): Promise<boolean> {
    const address = leg.family === 4 ? this.#ipv4! : this.#ipv6!;
    const legIndex = session.legs.indexOf(leg) as 0 | 1;
    const got = await this.#ports.allocate(async (port) => {
      let rtp: MediaSocket | undefined;
      try {
        rtp = await this.#transport.bind(address, port, (data, p, a) =>
          this.#onPacket(session, legIndex, false, data, p, a),
        );
        const rtcp = await this.#transport.bind(address, port + 1, (data, p, a) =>
          this.#onPacket(session, legIndex, true, data, p, a),
        );
        return { rtp, rtcp };
      } catch {
        rtp?.close();
        return undefined;
      }
    });
    if (got === undefined) return false;
    const old = leg.port;
    leg.rtp.socket?.close();
    leg.rtcp.socket?.close();
    if (leg.port !== 0) this.#ports.release(old);
    leg.port = got.port;
    leg.rtp.socket = got.value.rtp;
    leg.rtcp.socket = got.value.rtcp;
    return true;
  }

  /** Closes both legs' sockets and gives their ports back. */
  close(s: Session): void {
    for (const leg of s.legs) {
      leg.rtp.socket?.close();
      leg.rtcp.socket?.close();
      leg.rtp.socket = undefined;
      leg.rtcp.socket = undefined;
      if (leg.port !== 0) this.#ports.release(leg.port);
      leg.port = 0;
    }
  }

  // ---- media hot path ----------------------------------------------------------------------

  #onPacket(
    session: Session,
    legIndex: 0 | 1,
    rtcp: boolean,
    data: Buffer,
    port: number,
    address: string,
  ): void {
    if (session.destroyed) return;
    const leg = session.legs[legIndex];
    const inStream = rtcp ? leg.rtcp : leg.rtp;
    inStream.received++;
    this.#stats.npkts_rcvd++;
    session.active = true;
    if (data.length > this.#maxPacket) {
      inStream.dropped++;
      this.#stats.npkts_discard++;
      return;
    }
    if (!leg.asymmetric) {
      const peer = inStream.peer;
      if (!inStream.latched) {
        if (peer === undefined || peer.address !== address || peer.port !== port) {
          inStream.peer = { address, port };
        }
        inStream.latched = true;
        this.#log.info(
          {
            event: 'latched',
            callId: session.callId,
            fromTag: session.fromTag,
            leg: legIndex,
            stream: rtcp ? 'rtcp' : 'rtp',
            peer: formatEndpoint(inStream.peer),
          },
          'session latched',
        );
      } else if (peer !== undefined && (peer.address !== address || peer.port !== port)) {
        // after latching only the latched source is relayed
        inStream.dropped++;
        this.#stats.npkts_discard++;
        return;
      }
    }
    const other = session.legs[legIndex === 0 ? 1 : 0];
    const outStream = rtcp ? other.rtcp : other.rtp;
    const dest = outStream.peer;
    if (dest === undefined || other.onHold || outStream.socket === undefined) {
      inStream.dropped++;
      this.#stats.npkts_discard++;
      return;
    }
    outStream.socket.send(data, dest.port, dest.address);
    inStream.relayed++;
    this.#stats.npkts_relayed++;
    this.#packetsOut++;
  }
}
