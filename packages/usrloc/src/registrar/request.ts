/**
 * The checks a REGISTER passes before its bindings are looked at: the extensions it requires,
 * its Path, the AoR in its To. Each throws the rejection to answer.
 */
import { isSipUri, parseNameAddr, parseUri, type SipMessage, uriParam } from '@sipedge/sip';
import { type AorOptions, canonicalAor } from '../aor.js';
import { UsrlocError } from '../errors.js';
import type { PathMode } from './options.js';
import { Rejected, reject } from './reject.js';

const SUPPORTED_EXTENSIONS = new Set(['path', 'outbound', 'gruu']);

/** RFC 3261 §10.3 step 2: 420 for a required extension this registrar does not implement. */
export function checkRequired(required: readonly string[]): void {
  const unknown = required.filter((x) => !SUPPORTED_EXTENSIONS.has(x));
  if (unknown.length > 0) {
    reject(420, 'Bad Extension', 'Unsupported extension', [['Unsupported', unknown.join(', ')]]);
  }
}

/**
 * RFC 3327 §5.3: with `strict`, Path only from a UA that supports it (420); every value a SIP
 * URI, the first with `lr` (400).
 */
export function checkPath(
  pathValues: readonly string[],
  pathSupported: boolean,
  mode: PathMode,
): void {
  if (pathValues.length > 0 && mode === 'strict' && !pathSupported) {
    reject(420, 'Bad Extension', 'Path not supported by the UA', [
      ['Unsupported', 'path'],
      ...pathValues.map((p): [string, string] => ['Path', p]),
    ]);
  }
  for (let i = 0; i < pathValues.length; i++) {
    let lr: string | null | undefined;
    try {
      const u = parseUri(parseNameAddr(pathValues[i]!).uri);
      if (!isSipUri(u)) throw new Error('not sip');
      lr = uriParam(u, 'lr');
    } catch {
      reject(400, 'Bad Request', 'Bad Path header');
    }
    if (i === 0 && lr === undefined) reject(400, 'Bad Request', 'Path without lr');
  }
}

/**
 * RFC 3261 §10.3 step 5: the AoR of the To URI (400 when To is bad, 500 when the AoR is too
 * long), in a domain served here when `isLocal` is given (404).
 */
export function registerAor(
  req: SipMessage,
  options: AorOptions,
  isLocal: ((host: string) => boolean) | undefined,
): string {
  let aor: string;
  try {
    const toUri = req.to().uri;
    aor = canonicalAor(toUri, options);
    if (isLocal !== undefined) {
      const u = parseUri(toUri);
      if (isSipUri(u) && !isLocal(u.host.toLowerCase())) {
        reject(404, 'Not Found', 'Domain not served here');
      }
    }
  } catch (err) {
    if (err instanceof Rejected) throw err;
    if (err instanceof UsrlocError && err.code === 'USRLOC_AOR_TOO_LONG') {
      reject(500, 'Server Internal Error', 'Address Of Record too long');
    }
    reject(400, 'Bad Request', 'Bad To header');
  }
  return aor;
}
