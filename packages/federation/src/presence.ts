/** A site's presence for one AoR, from its contacts. */

/**
 * The longest expiry of `contacts` (ms since the epoch), a permanent contact (expires 0)
 * counting as `now + permanentMs`; undefined when there is none still valid at `now`.
 */
export function siteExpiry(
  contacts: Iterable<{ readonly expires: number }>,
  now: number,
  permanentMs: number,
): number | undefined {
  let longest: number | undefined;
  for (const c of contacts) {
    const e = c.expires === 0 ? now + permanentMs : c.expires;
    if (e <= now) continue;
    if (longest === undefined || e > longest) longest = e;
  }
  return longest;
}
