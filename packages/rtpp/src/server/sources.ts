/**
 * Who may send commands to an RtppServer, and how many stream connections each sender may
 * hold. udp and tcp commands are taken only from the `allowedSources` (addresses or CIDR
 * blocks; loopback by default); anything else is dropped unanswered. unix and cunix sockets
 * have no source address: their file's permissions say who may connect, and they are not
 * limited here.
 */
import { BlockList, isIP } from 'node:net';
import {
  type Clock,
  type Logger,
  LogLimiter,
  plainAddress,
  SourceCounts,
  sourceOf,
} from '@sipedge/core';
import { RtppArgumentError } from '../errors.js';
import { isLocalSocketSpec, parseSocketSpec } from '../framing/socket-spec.js';
import type { RtppRequestContext } from './options.js';

/** The default allow-list: this host only. */
export const LOOPBACK_SOURCES: readonly string[] = Object.freeze(['127.0.0.0/8', '::1/128']);

/** `10.0.0.1`, `10.0.0.0/8`, `::ffff:10.0.0.1` and `fd00::/8` forms; throws on anything else. */
export function parseSourceList(list: readonly string[]): BlockList {
  const blocks = new BlockList();
  for (const entry of list) {
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(address);
    if (family === 0) throw new RtppArgumentError(`bad source "${entry}": not an IP address`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const max = family === 4 ? 32 : 128;
    const prefixText = slash < 0 ? String(max) : entry.slice(slash + 1);
    const prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > max) {
      throw new RtppArgumentError(`bad source "${entry}": prefix must be 0..${max}`);
    }
    blocks.addSubnet(address, prefix, type);
  }
  return blocks;
}

const LOOPBACK = parseSourceList(LOOPBACK_SOURCES);

/**
 * Whether a control socket can be reached from other hosts (a udp/tcp socket on a wildcard or
 * non-loopback address): an app warns when only loopback may then send commands.
 */
export function reachableBeyondLoopback(spec: string): boolean {
  const s = parseSocketSpec(spec);
  if (isLocalSocketSpec(s)) return false;
  const family = isIP(s.host);
  if (family === 0) return true;
  return !LOOPBACK.check(s.host, family === 6 ? 'ipv6' : 'ipv4');
}

/** Who sent a command, as per-source rules count it: its address, or `local` (unix sockets). */
export function commandSource(ctx: RtppRequestContext): string {
  return sourceOf(ctx.peer?.address);
}

/** Decisions remembered per address before the cache is cleared (the hot path is one lookup). */
const MAX_CACHED = 4096;

export class SourcePolicy {
  readonly #blocks: BlockList;
  readonly #maxPerSource: number;
  readonly #log: Logger;
  readonly #logLimit: LogLimiter;
  readonly #decided = new Map<string, boolean>();
  readonly #perSource = new SourceCounts();

  constructor(options: {
    allowedSources: readonly string[];
    maxConnectionsPerSource: number;
    log: Logger;
    clock: Clock;
  }) {
    this.#blocks = parseSourceList(options.allowedSources);
    this.#maxPerSource = options.maxConnectionsPerSource;
    this.#log = options.log;
    this.#logLimit = new LogLimiter({ clock: options.clock });
  }

  /** May `address` send commands? */
  allows(address: string): boolean {
    const known = this.#decided.get(address);
    if (known !== undefined) return known;
    const source = plainAddress(address);
    const ok = this.#blocks.check(source, isIP(source) === 6 ? 'ipv6' : 'ipv4');
    if (this.#decided.size >= MAX_CACHED) this.#decided.clear();
    this.#decided.set(address, ok);
    return ok;
  }

  /** Takes a stream connection slot of `address`: false when it holds its cap. */
  takeConnection(address: string): boolean {
    const source = plainAddress(address);
    if (this.#perSource.of(source) >= this.#maxPerSource) return false;
    this.#perSource.add(source);
    return true;
  }

  releaseConnection(address: string): void {
    this.#perSource.remove(plainAddress(address));
  }

  /** A warning about a sender, at most once a minute per sender (with the count held back). */
  warn(address: string, fields: Record<string, unknown>, msg: string): void {
    const source = plainAddress(address);
    const suppressed = this.#logLimit.admit(source);
    if (suppressed !== undefined) this.#log.warn({ ...fields, from: source, suppressed }, msg);
  }
}
