import type { SipMessage } from '../../src/message/message.js';
import { parseMessage } from '../../src/message/parse-message.js';

/** A small request for unit tests; `extra` is header rows (each ending CRLF). */
export function req(
  extra: string,
  opts: { ruri?: string; method?: string; via?: string } = {},
): SipMessage {
  const method = opts.method ?? 'INVITE';
  return parseMessage(
    Buffer.from(
      `${method} ${opts.ruri ?? 'sip:bob@biloxi.example.com'} SIP/2.0\r\nVia: ${opts.via ?? 'SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKaaa;rport'}\r\nFrom: <sip:alice@example.com>;tag=f\r\nTo: <sip:bob@biloxi.example.com>\r\nCall-ID: cid\r\nCSeq: 1 ${method}\r\n${extra}Content-Length: 0\r\n\r\n`,
    ),
  );
}
