/**
 * Media anchoring through the embedded rtp-cluster balancer: the rtpproxy offer/answer/delete
 * a SIP proxy performs (Kamailio `rtpproxy_offer`/`rtpproxy_answer`/`unforce_rtp_proxy`),
 * done in-process. One U/L per SDP m-line with tags `tag;N` (N = 1-based media index, as
 * Kamailio and OpenSIPS send them); D with plain tags removes every media of the call.
 *
 * Offer in a request (INVITE, re-INVITE): `U callid ip port from;N [to;N]`. Answer in a reply
 * (18x/2xx): `L callid ip port from;N to;N`. Late offer (SDP first in the 2xx) and its answer
 * (SDP in the ACK) swap the tags, as Kamailio does for a reversed direction.
 */
import type { Logger } from '@sipedge/core';
import type { RtpCluster } from '@sipedge/rtp-cluster';
import { deleteCommand, updateCommand } from '@sipedge/rtpp';
import { isPrivateAddress, SdpEditor, type SessionHooks, type SipMessage } from '@sipedge/sip';

export interface MediaCounters {
  offers: number;
  answers: number;
  deletes: number;
  failures: number;
}

export type MediaRole = 'offer' | 'answer';

/** The session hooks of the edge's proxy: SDP offers and answers go through a relay. */
export class MediaAnchor implements SessionHooks {
  readonly counters: MediaCounters = { offers: 0, answers: 0, deletes: 0, failures: 0 };
  readonly #cluster: RtpCluster;
  readonly #log: Pick<Logger, 'debug' | 'warn'>;

  constructor(cluster: RtpCluster, logger: Pick<Logger, 'debug' | 'warn'>) {
    this.#cluster = cluster;
    this.#log = logger;
  }

  /**
   * Rewrites the SDP of `msg` so its media goes through a relay. `late` (an offer in a reply,
   * its answer in the ACK) swaps the tags. `sourceIp` replaces a private SDP address (a UA
   * behind NAT). Returns false (message untouched) when the relays cannot serve the call.
   */
  async exchange(
    msg: SipMessage,
    role: MediaRole,
    late: boolean,
    sourceIp: string,
  ): Promise<boolean> {
    let sdp: SdpEditor;
    try {
      sdp = new SdpEditor(msg.body);
    } catch {
      return false;
    }
    const callId = msg.callId();
    let fromTag = msg.fromTag() ?? '';
    let toTag = msg.toTag();
    if (late) [fromTag, toTag] = [toTag ?? '', fromTag];
    const session = sdp.sessionConnection();
    const media = sdp.media();
    let relayAddress: string | undefined;
    for (const m of media) {
      if (m.port === 0) continue;
      const sdpAddr = m.connection?.address ?? session?.address;
      if (sdpAddr === undefined) continue;
      const ip = isPrivateAddress(sdpAddr) && sdpAddr !== sourceIp ? sourceIp : sdpAddr;
      const n = m.index + 1;
      const cmd = updateCommand({
        kind: role === 'offer' ? 'U' : 'L',
        callId,
        remoteIp: ip,
        remotePort: m.port,
        fromTag: `${fromTag};${n}`,
        ...(toTag === undefined || toTag === '' ? {} : { toTag: `${toTag};${n}` }),
      });
      const reply = await this.#cluster.handle(cmd);
      if (reply.kind !== 'port' || reply.port === 0) {
        this.counters.failures++;
        this.#log.warn(
          { callId, role, media: n, reply: reply.kind === 'error' ? `E${reply.code}` : 'miss' },
          'media: relay refused the session, SDP left as is',
        );
        return false;
      }
      const address = reply.address ?? this.#relayHost(callId) ?? ip;
      relayAddress ??= address;
      sdp.setMediaPort(m.index, reply.port);
      if (m.rtcp !== undefined) {
        sdp.setRtcp(m.index, reply.port + 1, m.rtcp.address === undefined ? undefined : address);
      }
    }
    if (relayAddress === undefined) return false;
    // one call, one relay: every c= line (session and media) names it
    sdp.setConnection(relayAddress);
    msg.setBody(sdp.toBuffer());
    if (role === 'offer') this.counters.offers++;
    else this.counters.answers++;
    return true;
  }

  /** Deletes the call's sessions on its relay (BYE, CANCEL, failed INVITE). */
  async release(callId: string, fromTag: string, toTag?: string): Promise<void> {
    const reply = await this.#cluster.handle(deleteCommand(callId, fromTag, toTag));
    this.counters.deletes++;
    if (reply.kind === 'error' && reply.code !== 50) {
      this.#log.debug({ callId, code: reply.code }, 'media: delete refused');
    }
  }

  /** The host of the relay holding the call, when its reply carried no address. */
  #relayHost(callId: string): string | undefined {
    const name = this.#cluster.callTable.lookup(callId);
    const address = name === undefined ? undefined : this.#cluster.member(name)?.config.address;
    if (address === undefined) return undefined;
    const i = address.lastIndexOf(':');
    const host = i < 0 ? address : address.slice(0, i);
    return host.startsWith('[') ? host.slice(1, -1) : host;
  }
}
