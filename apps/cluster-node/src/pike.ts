/**
 * Flood protection of the SIP edge, as OpenSIPS's `pike` module: @sipedge/sip's PikeDetector
 * counts the requests of every source that is not a cluster peer or trusted; a source past the
 * density is reported once (a warning and the MI event `E_PIKE_BLOCKED` with its `ip`), and
 * what it sends is dropped (or answered 503) until it has been quiet for `remove_latency`.
 * MI: `pike_list` (`{ IPs: [...] }`, as OpenSIPS) and `pike_rm` (one `ip`, or every one).
 *
 * The detector is sans-I/O and lives in @sipedge/sip so that any SIP server can use it; what
 * this node adds (which sources are exempt, the event, the MI commands, the statistics) needs
 * @sipedge/mi and the node's configuration, so it is here.
 */
import { type BlockList, isIP } from 'node:net';
import { type Clock, type Logger, LogLimiter } from '@sipedge/core';
import {
  type Counter,
  defineCommand,
  type EventBus,
  type MiCommand,
  MiCommandError,
  type StatisticsRegistry,
} from '@sipedge/mi';
import { parseSourceList } from '@sipedge/rtpp';
import { PikeDetector } from '@sipedge/sip';
import { z } from 'zod';
import type { NodeConfig } from './config.js';

export const PIKE_BLOCKED_EVENT = 'E_PIKE_BLOCKED';

/** What to do with a request: process it, drop it, or answer it 503. */
export type PikeAction = 'allowed' | 'drop' | 'reply';

export class PikeGuard {
  readonly #detector: PikeDetector;
  readonly #config: NodeConfig['sip']['pike'];
  readonly #exact: ReadonlySet<string>;
  readonly #subnets: BlockList | undefined;
  readonly #events: EventBus;
  readonly #log: Logger;
  readonly #throttle: LogLimiter;
  readonly #blocked: Counter;
  readonly #dropped: Counter;
  readonly #released: Counter;

  constructor(
    config: NodeConfig['sip']['pike'],
    deps: {
      /** Addresses never counted (cluster peers), besides `config.trusted`. */
      peers: readonly string[];
      stats: StatisticsRegistry;
      events: EventBus;
      logger: Logger;
      clock?: Clock;
    },
  ) {
    this.#config = config;
    this.#events = deps.events;
    this.#log = deps.logger;
    this.#detector = new PikeDetector({
      ...(deps.clock === undefined ? {} : { clock: deps.clock }),
      samplingTimeUnitMs: config.sampling_time_unit * 1000,
      reqsDensityPerUnit: config.reqs_density_per_unit,
      removeLatencyMs: config.remove_latency * 1000,
      maxSources: config.max_sources,
    });
    this.#throttle = new LogLimiter(deps.clock === undefined ? {} : { clock: deps.clock });
    // addresses in a set (one lookup per request), subnets in a BlockList only when there are any
    const subnets = config.trusted.filter((t) => t.includes('/'));
    this.#exact = new Set([...deps.peers, ...config.trusted.filter((t) => !t.includes('/'))]);
    this.#subnets = subnets.length === 0 ? undefined : parseSourceList(subnets);
    const s = deps.stats;
    this.#blocked = s.counter('pike', 'blocked', 'Source addresses blocked for flooding');
    this.#dropped = s.counter(
      'pike',
      'dropped',
      'SIP requests refused from a blocked source (dropped, or answered 503)',
    );
    this.#released = s.counter('pike', 'released', 'Blocked source addresses unblocked');
    s.gauge('pike', 'blocked_sources', {
      help: 'Source addresses blocked now',
      read: () => this.#detector.blockedCount,
    });
    s.gauge('pike', 'tracked_sources', {
      help: 'Source addresses counted in the current unit',
      read: () => this.#detector.trackedCount,
    });
    s.counter('pike', 'evicted', {
      help: 'Counted or blocked addresses forgotten to stay within max_sources',
      read: () => this.#detector.counters.evictedCounts + this.#detector.counters.evictedBlocks,
    });
    deps.events.register(PIKE_BLOCKED_EVENT);
    this.#detector.onReleased = (ip, block) => {
      this.#released.inc();
      if (this.#throttle.admit(`released|${ip}`) !== undefined) {
        this.#log.info(
          { ip, dropped: block.dropped },
          'pike: source unblocked after a quiet period',
        );
      }
    };
  }

  /** Counts a request from `address`; says what to do with it. Cheap for every request. */
  check(address: string): PikeAction {
    if (this.#exact.has(address)) return 'allowed';
    if (this.#subnets?.check(address, address.includes(':') ? 'ipv6' : 'ipv4') === true) {
      return 'allowed';
    }
    const verdict = this.#detector.check(address);
    if (verdict === 'allowed') return 'allowed';
    this.#dropped.inc();
    if (verdict === 'blocked-now') this.#report(address);
    return this.#config.action === 'reply' ? 'reply' : 'drop';
  }

  /** Seconds a blocked source is told to wait (Retry-After of the 503). */
  get retryAfter(): number {
    return this.#config.remove_latency;
  }

  #report(ip: string): void {
    this.#blocked.inc();
    this.#events.raise(PIKE_BLOCKED_EVENT, { ip });
    const suppressed = this.#throttle.admit(`blocked|${ip}`);
    if (suppressed === undefined) return;
    this.#log.warn(
      {
        ip,
        reqs_density_per_unit: this.#config.reqs_density_per_unit,
        sampling_time_unit: this.#config.sampling_time_unit,
        action: this.#config.action,
        suppressed,
      },
      'pike: source blocked for flooding',
    );
  }

  /** `pike_list` and `pike_rm`, with OpenSIPS's names, params and replies. */
  miCommands(): MiCommand[] {
    return [
      defineCommand({
        name: 'pike_list',
        description: 'Source addresses blocked for flooding',
        module: 'pike',
        handler: () => ({ IPs: this.#detector.list().map((b) => b.address) }),
      }),
      defineCommand({
        name: 'pike_rm',
        description: 'Unblock a source address (every blocked one without `ip`)',
        module: 'pike',
        params: z.object({ ip: z.string().optional() }),
        handler: ({ ip }) => {
          if (ip === undefined) return { removed: this.#detector.remove() };
          if (isIP(ip) === 0) throw new MiCommandError(500, 'Bad IP');
          if (!this.#detector.isBlocked(ip)) throw new MiCommandError(404, 'Match not found');
          this.#detector.remove(ip);
          this.#log.info({ ip }, 'pike: source unblocked by MI');
          return 'OK';
        },
      }),
    ];
  }
}
