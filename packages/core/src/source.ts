/**
 * Who sent something, as per-source rules (caps, rate limits, log limits) count senders: a
 * peer's address as one string whatever socket it came in on, and `local` for a sender with
 * no address (a unix socket).
 */

/** What per-source rules call a sender with no address (a unix socket). */
export const LOCAL_SOURCE = 'local';

/**
 * `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) → `10.0.0.1`; any other address as
 * it is, so that a sender is one source on every socket.
 */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The source of a peer: its plain address, or `local` when it has none. */
export function sourceOf(address: string | undefined): string {
  return address === undefined ? LOCAL_SOURCE : plainAddress(address);
}
