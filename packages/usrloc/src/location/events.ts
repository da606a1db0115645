/** The E_UL_* events a location raises on the MI event bus, with OpenSIPS's params. */
import type { ContactRecord } from '../model.js';
import type { ChangeReason } from './changes.js';

export const USRLOC_EVENTS = [
  'E_UL_AOR_INSERT',
  'E_UL_AOR_DELETE',
  'E_UL_CONTACT_INSERT',
  'E_UL_CONTACT_UPDATE',
  'E_UL_CONTACT_DELETE',
  'E_UL_CONTACT_REFRESH',
] as const;

export const NO_PARAMS: Readonly<Record<string, unknown>> = Object.freeze({});

export const EVENT_OF = {
  insert: 'E_UL_CONTACT_INSERT',
  update: 'E_UL_CONTACT_UPDATE',
  refresh: 'E_UL_CONTACT_REFRESH',
  delete: 'E_UL_CONTACT_DELETE',
} as const;

/**
 * Event params as OpenSIPS's E_UL_CONTACT_* (ul_evi.h names), plus `contact_id` and, when
 * given, `reason`: why the contact changed or went away (`unregister`, `expired`, `mi`,
 * `ping-timeout`…).
 */
export function contactEventParams(
  c: ContactRecord,
  domain = 'location',
  reason?: ChangeReason,
): Record<string, unknown> {
  const params: Record<string, unknown> = {
    domain,
    aor: c.aor,
    uri: c.uri,
    received: c.received ?? '',
    path: c.path.join(','),
    qval: c.q ?? -1,
    user_agent: c.userAgent ?? '',
    socket: c.socket ?? '',
    bflags: c.flags,
    expires: c.expires === 0 ? 0 : Math.floor(c.expires / 1000),
    callid: c.callId,
    cseq: c.cseq,
    attr: '',
    latency: 0,
    shtag: c.shtag ?? '',
    contact_id: c.id,
  };
  if (reason !== undefined) params.reason = reason;
  return params;
}
