/**
 * What each `E<n>` means (docs/protocols/rtpproxy.md §2.10 for rtpproxy ≥ 2.0, §5.6 for
 * rtp_cluster's own), for logs and admin output. rtpproxy 1.x numbered its errors differently
 * (docs/protocols/rtpproxy.md §2.10, after the table).
 */
export const RTPP_ERROR_TEXT: Readonly<Record<number, string>> = Object.freeze({
  0: 'unknown command',
  1: 'wrong number of arguments',
  2: 'modifiers not allowed on this command',
  3: 'sub-command not allowed or malformed',
  5: 'syntax error (tokenizer, size or token limit)',
  6: 'modifier not allowed on this command (R p, N a…)',
  7: 'unknown R/C/N modifier',
  8: 'unknown D modifier',
  9: 'unknown G modifier',
  10: 'bad URL escaping in notify tag',
  11: 'e modifier without bridging, or more than two e/i',
  12: 'i modifier without bridging, or more than two e/i',
  13: 'bad z ptime',
  14: 'bad c codec list',
  15: 'bad l local address syntax',
  16: 'bad r remote address syntax',
  17: 'bad P play count',
  18: 'unknown I modifier',
  19: 'unknown Q modifier',
  25: 'G reply too big',
  26: 'Q reply too big',
  31: 'unusable local address or unknown label',
  32: 'no local address routes to the remote address',
  33: 'invalid argument',
  34: 'invalid argument',
  35: 'unknown U/L modifier',
  36: 'no local address of the requested family',
  37: 'bad remote address or port',
  50: 'session not found',
  60: 'player failure',
  62: 'unknown Q counter',
  65: 'copy failure',
  68: 'unknown G counter',
  71: 'cannot create listener (existing session)',
  72: 'cannot create listener or session (new session)',
  75: 'notification requested but not configured (-n)',
  81: 'out of memory',
  82: 'out of memory',
  83: 'out of memory',
  84: 'out of memory',
  85: 'out of memory',
  86: 'out of memory',
  87: 'out of memory',
  88: 'out of memory',
  89: 'out of memory',
  98: 'overloaded',
  99: 'shutting down (no new sessions)',
  993: 'rtp_cluster: statistics failed on every member',
  994: 'rtp_cluster: statistics timed out with nothing cached',
  995: 'rtp_cluster: broadcast answer empty or ambiguous',
  996: 'rtp_cluster: member timed out in a broadcast',
  997: 'rtp_cluster: backend did not answer',
  998: 'rtp_cluster: no eligible member',
  999: 'rtp_cluster: no member online',
});

/** `E50 (session not found)`; unknown numbers are shown bare. */
export function describeRtppError(code: number): string {
  const text = RTPP_ERROR_TEXT[code];
  return text === undefined ? `E${code}` : `E${code} (${text})`;
}
