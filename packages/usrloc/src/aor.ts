import { isSipUri, parseNameAddr, parseUri, unescapeUri } from '@sipedge/sip';
import { UsrlocError } from './errors.js';

export interface AorOptions {
  /** Keep `@host` in the AoR (OpenSIPS `use_domain`, default true). */
  readonly useDomain?: boolean;
  /** Lower-case the user part too (OpenSIPS `case_sensitive=0`); default false (RFC 3261). */
  readonly caseInsensitiveUser?: boolean;
  /** Longest AoR accepted (OpenSIPS max_aor_len, 256). */
  readonly maxLength?: number;
}

/**
 * The canonical AoR of a SIP URI (RFC 3261 §10.3 step 5): user part unescaped, scheme, port,
 * password, parameters and headers dropped, host lower-cased. Accepts a bare URI, a name-addr,
 * or an already canonical `user@host`. Throws `UsrlocError` (`USRLOC_BAD_AOR`).
 */
/** `sip:user@host` with nothing to unescape, lower-case or drop: the AoR is the rest as it is. */
const PLAIN_SIP = /^sip:([A-Za-z0-9_.!~*'()&=+$,-]+)@([a-z0-9.-]+)$/;

export function canonicalAor(input: string, options: AorOptions = {}): string {
  // the common lookup key (a Request-URI like sip:alice@example.com) needs no URI parse
  const plain = options.caseInsensitiveUser !== true ? PLAIN_SIP.exec(input) : null;
  if (plain !== null) {
    const aor = options.useDomain === false ? (plain[1] as string) : input.slice(4);
    if (aor.length > (options.maxLength ?? 256))
      throw new UsrlocError('USRLOC_AOR_TOO_LONG', 'Address Of Record too long');
    return aor;
  }
  let text = input.trim();
  if (text.includes('<')) text = parseNameAddr(text).uri;
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(text)) text = `sip:${text}`;
  let uri: ReturnType<typeof parseUri>;
  try {
    uri = parseUri(text);
  } catch (err) {
    throw new UsrlocError('USRLOC_BAD_AOR', `not a URI: '${input.slice(0, 80)}'`, { cause: err });
  }
  if (!isSipUri(uri))
    throw new UsrlocError('USRLOC_BAD_AOR', `not a sip/sips URI: '${input.slice(0, 80)}'`);
  let user = uri.user === null ? '' : unescapeUri(uri.user);
  if (options.caseInsensitiveUser === true) user = user.toLowerCase();
  const host = uri.host.toLowerCase();
  const aor = options.useDomain === false ? user : user.length > 0 ? `${user}@${host}` : host;
  if (aor.length === 0) throw new UsrlocError('USRLOC_BAD_AOR', 'empty AoR');
  if (aor.length > (options.maxLength ?? 256))
    throw new UsrlocError('USRLOC_AOR_TOO_LONG', 'Address Of Record too long');
  return aor;
}
