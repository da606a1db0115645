/**
 * 32-bit FNV-1a: a fast, stable, non-cryptographic hash for hash tables, interning and
 * identifiers that need uniqueness, not secrecy. Results are signed 32-bit integers (what
 * `Math.imul` gives and an `Int32Array` stores); `>>> 0` makes one unsigned.
 */

/** FNV-1a's 32-bit offset basis: the usual seed. */
export const FNV1A_OFFSET = 0x811c9dc5;
/** FNV-1a's 32-bit prime. */
export const FNV1A_PRIME = 0x01000193;

/**
 * FNV-1a over the UTF-16 code units of `s`, starting from `seed`. Another seed gives another,
 * independent hash; the result of one call as the seed of the next hashes the concatenation.
 */
export function fnv1a(s: string, seed: number = FNV1A_OFFSET): number {
  let h = seed | 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV1A_PRIME);
  return h;
}

/** The second seed of `fnv1aPair`: the golden-ratio constant. */
const SECOND_SEED = 0x9e3779b9;

/**
 * Two independent unsigned 32-bit FNV-1a hashes of `s` (the usual seed and a second one): 64
 * bits for ids and digests where 32 would collide too soon.
 */
export function fnv1aPair(s: string): [number, number] {
  return [fnv1a(s) >>> 0, fnv1a(s, SECOND_SEED) >>> 0];
}

/** FNV-1a over the bytes `start` to `end` (exclusive) of `bytes`, starting from `seed`. */
export function fnv1aBytes(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
  seed: number = FNV1A_OFFSET,
): number {
  let h = seed | 0;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (bytes[i] as number), FNV1A_PRIME);
  return h;
}
