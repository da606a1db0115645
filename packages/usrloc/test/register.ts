/** A REGISTER for the simulator tests: one Contact, a fixed Via and tags, the given CSeq. */
import { parseMessage, type SipMessage } from '@sipedge/sip';

export function register(
  user: string,
  contact: string,
  callId: string,
  cseq: number,
  expires: number,
): SipMessage {
  const lines = [
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds',
    'Max-Forwards: 70',
    `To: <sip:${user}@example.com>`,
    `From: <sip:${user}@example.com>;tag=456248`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <${contact}>`,
    `Expires: ${expires}`,
    'Content-Length: 0',
    '',
    '',
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'), 'latin1'));
}
