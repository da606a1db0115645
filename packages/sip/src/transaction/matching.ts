import type { SipMessage } from '../message/message.js';

const MAGIC = 'z9hG4bK';

/**
 * Server transaction key (RFC 3261 §17.2.3): branch + sent-by + method, with ACK mapped to
 * INVITE. For RFC 2543 requests (branch without the magic cookie) the key is built from
 * Request-URI, From tag, Call-ID, CSeq number and top Via; To tag is checked separately.
 */
export function serverTransactionKey(req: SipMessage, methodOverride?: string): string {
  const via = req.topVia();
  const method = methodOverride ?? (req.method === 'ACK' ? 'INVITE' : req.method);
  if (via?.branch?.startsWith(MAGIC)) {
    return `3261|${via.branch}|${via.host.toLowerCase()}:${via.port ?? ''}|${method}`;
  }
  const v = req.values('via')[0] ?? '';
  return `2543|${req.requestUri}|${req.fromTag() ?? ''}|${req.callId()}|${req.cseq().seq}|${method}|${v}`;
}

/** Client transaction key for a response (RFC 3261 §17.1.3): top Via branch + CSeq method. */
export function clientTransactionKey(msg: SipMessage): string {
  const branch = msg.topVia()?.branch ?? '';
  const method = msg.cseq().method;
  return `${branch}|${method === 'ACK' ? 'INVITE' : method}`;
}

/** The key of the INVITE server transaction a CANCEL refers to (RFC 3261 §9.2). */
export function cancelTargetKey(cancel: SipMessage): string {
  return serverTransactionKey(cancel, 'INVITE');
}
