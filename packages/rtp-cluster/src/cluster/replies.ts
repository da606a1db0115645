/**
 * The replies a cluster makes itself, what a member's reply means for the call table, and the
 * E-code rule that keeps a SIP proxy from disabling the balancer for a client's mistake.
 */
import type { RtppPortReply, RtppReply } from '@sipedge/rtpp';

/**
 * OpenSIPS reads E7–E10 as "this rtpproxy is broken" and disables it — the whole balancer, here.
 * A client's malformed command is answered with the nearest harmless shape instead: modifier
 * errors (E7–E9) as E2, a bad notify-tag escape (E10) as E5. Give it to RtppServer's
 * `parseErrorCode`.
 */
export function balancerParseErrorCode(code: number): number {
  if (code === 10) return 5;
  if (code >= 7 && code <= 9) return 2;
  return code;
}

export const value = (v: string): RtppReply => ({ kind: 'value', value: v });
export const error = (code: number): RtppReply => ({ kind: 'error', code });
/** An L that found nothing. */
export const missPort: RtppPortReply = { kind: 'port', port: 0, ipv6: false, subResults: [] };

/** Whether a member's reply means it holds the session (a port, or any non-error answer). */
export function isPositive(reply: RtppReply): boolean {
  if (reply.kind === 'error') return false;
  if (reply.kind === 'port') return reply.port !== 0;
  return true;
}

/** Whether a member's link failed (no answer, garbage, socket error) rather than the command. */
export function isTransportFailure(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'RTPP_TIMEOUT' || code === 'RTPP_PROTOCOL' || code === 'RTPP_SOCKET';
}
