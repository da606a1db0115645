/**
 * Who sent something, as per-source rules (caps, rate limits, log limits) count senders: a
 * peer's address as one string whatever socket it came in on, and `local` for a sender with
 * no address (a unix socket); and what each source holds, against its caps.
 */
import { isIP } from 'node:net';

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

/**
 * How many of something (connections, sessions) each source holds. A source that holds none
 * is forgotten, so memory follows what is held, never how many sources came and went.
 */
export class SourceCounts {
  readonly #held = new Map<string, number>();
  #total = 0;

  /** What `source` holds now. */
  of(source: string): number {
    return this.#held.get(source) ?? 0;
  }

  /** `source` holds one more. */
  add(source: string): void {
    this.#held.set(source, this.of(source) + 1);
    this.#total++;
  }

  /** `source` holds one fewer (nothing happens when it held none). */
  remove(source: string): void {
    const n = this.#held.get(source);
    if (n === undefined) return;
    if (n <= 1) this.#held.delete(source);
    else this.#held.set(source, n - 1);
    this.#total--;
  }

  /** What every source holds together. */
  get total(): number {
    return this.#total;
  }

  /** Sources that hold something. */
  get sources(): number {
    return this.#held.size;
  }
}

/**
 * `host:port` or `[v6]:port` (port 0–65535, a bracketed host an IPv6 address) split into its
 * parts, the brackets dropped; undefined for anything else.
 */
export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(s);
  if (m === null) return undefined;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port };
}
