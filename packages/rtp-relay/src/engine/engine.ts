/**
 * The media engine: rtpproxy sessions that really relay RTP and RTCP (the session model is in
 * session.ts).
 *
 * This file is the engine's life and its command queue: commands run one at a time in arrival
 * order, are dispatched here, and sessions end here (D, X, timeouts). The rest is beside it:
 * update.ts (U and L), legs.ts (sockets and the packet hot path), session-table.ts (finding
 * sessions by tags), reports.ts (Q, I, G), capabilities.ts (VF dates, counter names).
 */
import {
  type Clock,
  type Logger,
  monotonicClock,
  noopLogger,
  sourceOf,
  type TimerHandle,
} from '@sipedge/core';
import {
  type DeleteCommand,
  RtppErrorCode as E,
  RTPP_BASE_VERSION,
  type RtppCommand,
  type RtppReply,
} from '@sipedge/rtpp';
import { PortRange } from '../media/ports.js';
import type { MediaTransport } from '../media/transport.js';
import { type Notifier, parseNotifySpec } from '../notify/notify.js';
import { type EngineStats, newStats, type StatName, supportsDate } from './capabilities.js';
import { LegSockets } from './legs.js';
import { infoReply, queryReply, statsReply } from './reports.js';
import { type Session, type SessionInfo, sessionInfo, tagMatches } from './session.js';
import { SessionTable } from './session-table.js';
import { SourceSessions } from './sources.js';
import { type CommandContext, UpdateLookup } from './update.js';

export interface MediaEngineOptions {
  readonly transport: MediaTransport;
  /** IPv4 media address (`-l`); at least one of ipv4/ipv6 is required. */
  readonly ipv4?: string;
  /** IPv6 media address (`-6`). */
  readonly ipv6?: string;
  /** Address printed in U/L replies instead of the bound one (rtpproxy `-A`). */
  readonly advertisedIpv4?: string;
  readonly advertisedIpv6?: string;
  /** `-m`, default 35000. */
  readonly portMin?: number;
  /** `-M`, default 65000. */
  readonly portMax?: number;
  /** `-T`: seconds without traffic before a session is destroyed, default 60. */
  readonly ttl?: number;
  /** `-n` allow-list of notify sockets; empty = notifications off (U notify args → E75). */
  readonly notifySockets?: readonly string[];
  readonly notifier?: Notifier;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Commands waiting behind the one being executed before E98 is answered; default 1024. */
  readonly maxPending?: number;
  /** Packets longer than this are dropped and counted; default 8192. */
  readonly maxPacket?: number;
  /**
   * Sessions one command source (address; `local` for unix sockets) may hold; a new one over it
   * answers E72. Default: 90% of what the port range holds, so one sender always leaves a tenth
   * to the others; 0: no cap.
   */
  readonly maxSessionsPerSource?: number;
}

/** How often idle sessions are looked for (rtpproxy's TTL has a one-second resolution). */
const SWEEP_MS = 1000;

const err = (code: number): RtppReply => ({ kind: 'error', code });
const value = (v: string): RtppReply => ({ kind: 'value', value: v });

export class MediaEngine {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #notifications: boolean;
  readonly #notifier: Notifier | undefined;
  readonly #maxPending: number;
  readonly #sessions = new SessionTable();
  readonly #stats: EngineStats = newStats();
  readonly #legs: LegSockets;
  readonly #updates: UpdateLookup;
  readonly #sources: SourceSessions;
  #pending = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #sweepTimer: TimerHandle | undefined;
  /** When the next sweep is due: sweeps keep a one-second beat however long each takes. */
  #sweepDue = 0;
  #stopped = false;

  constructor(options: MediaEngineOptions) {
    if (options.ipv4 === undefined && options.ipv6 === undefined) {
      throw new Error('the media engine needs an IPv4 or IPv6 listen address');
    }
    this.#clock = options.clock ?? monotonicClock;
    this.#log = options.logger ?? noopLogger;
    const ports = new PortRange(options.portMin ?? 35000, options.portMax ?? 65000);
    const ttl = options.ttl ?? 60;
    if (!(ttl > 0)) throw new RangeError('ttl must be positive');
    this.#ttlMs = ttl * 1000;
    const notifyAllow = (options.notifySockets ?? []).map(parseNotifySpec);
    this.#notifications = notifyAllow.length > 0;
    this.#notifier = options.notifier;
    this.#maxPending = options.maxPending ?? 1024;
    // a session holds two port pairs (one per leg)
    const sessionCapacity = Math.floor(ports.capacity / 2);
    this.#sources = new SourceSessions(
      options.maxSessionsPerSource ?? Math.max(1, Math.floor(sessionCapacity * 0.9)),
      this.#log,
      this.#clock,
    );
    this.#legs = new LegSockets({
      transport: options.transport,
      ports,
      ipv4: options.ipv4,
      ipv6: options.ipv6,
      maxPacket: options.maxPacket ?? 8192,
      stats: this.#stats,
      log: this.#log,
    });
    this.#updates = new UpdateLookup({
      sessions: this.#sessions,
      legs: this.#legs,
      stats: this.#stats,
      clock: this.#clock,
      log: this.#log,
      ipv4: options.ipv4,
      ipv6: options.ipv6,
      advertisedIpv4: options.advertisedIpv4,
      advertisedIpv6: options.advertisedIpv6,
      notifyAllow,
      sources: this.#sources,
    });
  }

  /** Starts the once-a-second TTL sweep. */
  start(): void {
    if (this.#sweepTimer !== undefined || this.#stopped) return;
    this.#sweepDue = this.#clock.now() + SWEEP_MS;
    this.#armSweep();
  }

  /** Arms the next sweep at `#sweepDue`, then the one after a period later (late: a period from now). */
  #armSweep(): void {
    this.#sweepTimer = this.#clock.setTimeout(
      () => {
        const now = this.#clock.now();
        this.#sweepDue += SWEEP_MS;
        if (this.#sweepDue <= now) this.#sweepDue = now + SWEEP_MS;
        this.#armSweep();
        this.sweep();
      },
      Math.max(0, this.#sweepDue - this.#clock.now()),
    );
  }

  /** Stops the sweep and destroys every session (closing its sockets). Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#sweepTimer !== undefined) this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    await this.#queue.catch(() => {});
    for (const s of this.#sessions.all()) this.#destroy(s, 'shutdown');
    this.#notifier?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Number of live sessions (one per call-id/tag/media-number). */
  get sessionCount(): number {
    return this.#sessions.count;
  }

  /** Sessions one source may hold (0: no cap). */
  get maxSessionsPerSource(): number {
    return this.#sources.max;
  }

  /** Live sessions created from `remoteAddress` (undefined: unix sockets). */
  sessionsOf(remoteAddress: string | undefined): number {
    return this.#sources.held(sourceOf(remoteAddress));
  }

  /** A counter of docs/protocols/rtpproxy.md §2.9 as G would answer it. */
  stat(name: StatName): number {
    return this.#stats[name];
  }

  sessions(): SessionInfo[] {
    return this.#sessions.all().map(sessionInfo);
  }

  /**
   * Executes one parsed command and resolves its reply; never rejects. Commands run one at a
   * time in arrival order (a U binds sockets, so it is asynchronous).
   */
  handle(cmd: RtppCommand, ctx: CommandContext = {}): Promise<RtppReply> {
    this.#stats.ncmds_rcvd++;
    if (this.#stopped) return Promise.resolve(this.#count(err(E.SLOWSHTDN)));
    if (this.#pending >= this.#maxPending) return Promise.resolve(this.#count(err(E.OVERLOAD)));
    this.#pending++;
    const run = this.#queue.then(async () => {
      try {
        return this.#count(await this.#execute(cmd, ctx));
      } catch (e) {
        this.#log.error({ err: (e as Error).message, cmd: cmd.kind }, 'command failed');
        return this.#count(err(cmd.kind === 'U' || cmd.kind === 'L' ? E.LSTFAIL_2 : E.NOMEM_1));
      } finally {
        this.#pending--;
      }
    });
    this.#queue = run;
    return run;
  }

  #count(reply: RtppReply): RtppReply {
    if (reply.kind === 'error') this.#stats.ncmds_errs++;
    else this.#stats.ncmds_succd++;
    return reply;
  }

  async #execute(cmd: RtppCommand, ctx: CommandContext): Promise<RtppReply> {
    switch (cmd.kind) {
      case 'V':
        return value(RTPP_BASE_VERSION);
      case 'VF':
        return value(this.supports(cmd.date) ? '1' : '0');
      case 'U':
      case 'L':
        return this.#updates.execute(cmd, ctx);
      case 'D':
        return this.#delete(cmd);
      case 'Q':
        return queryReply(cmd, this.#sessions, this.#clock.now(), this.#ttlMs);
      case 'I':
        return infoReply(cmd, this.#sessions.count, this.#stats, this.#legs.packetsOut);
      case 'G':
        return statsReply(cmd, this.#stats);
      case 'X': {
        // only the sender's own sessions: a relay serves several proxies (or nodes)
        const source = sourceOf(ctx.remoteAddress);
        for (const s of this.#sessions.all()) if (s.source === source) this.#destroy(s, 'flushed');
        return value('0');
      }
      case 'P':
        // no prompt player: rtpproxy's player-failure code once the session is found
        return this.#sessions.find(cmd.callId, cmd.fromTag, cmd.toTag) === undefined
          ? err(E.SESUNKN)
          : err(E.PLRFAIL);
      case 'S':
        return this.#sessions.find(cmd.callId, cmd.fromTag, cmd.toTag) === undefined
          ? err(E.SESUNKN)
          : value('0');
      case 'R':
      case 'N':
        // nothing is recorded, so there is nothing to start or stop (rtpproxy: E50)
        return err(E.SESUNKN);
      case 'C':
        return this.#sessions.find(cmd.callId, cmd.fromTag, cmd.toTag) === undefined
          ? err(E.SESUNKN)
          : err(E.CPYFAIL);
    }
  }

  /** What `VF <date>` answers. */
  supports(date: string): boolean {
    return supportsDate(date, this.#notifications);
  }

  #delete(cmd: DeleteCommand): RtppReply {
    const hit = this.#sessions.matchAll(cmd.callId, cmd.fromTag, cmd.toTag);
    if (hit.length === 0) return err(E.SESUNKN);
    for (const s of hit) {
      if (cmd.weak) {
        // Dw clears the weak flag of the leg the command's from-tag names
        const fromSide = tagMatches(s.fromTag, cmd.fromTag);
        s.legs[fromSide ? 0 : 1].weak = false;
      } else {
        s.strong = false;
      }
      if (!s.strong && !s.legs[0].weak && !s.legs[1].weak) this.#destroy(s, 'deleted');
    }
    return value('0');
  }

  // ---- timeouts and teardown ---------------------------------------------------------------

  /** Folds traffic into the TTLs and destroys idle sessions; called every second by the clock. */
  sweep(): void {
    const now = this.#clock.now();
    for (const s of this.#sessions.all()) {
      if (s.active) {
        s.active = false;
        s.lastActivity = now;
        continue;
      }
      if (now - s.lastActivity >= this.#ttlMs) this.#timeout(s);
    }
  }

  #timeout(s: Session): void {
    this.#stats.nsess_timeout++;
    this.#destroy(s, 'timed out');
    if (s.notify !== undefined && this.#notifier !== undefined) {
      this.#notifier.send(s.notify.destination, `${s.notify.tag}\n`);
      this.#log.info(
        { event: 'notify', callId: s.callId, tag: s.notify.tag },
        'timeout notification sent',
      );
    }
  }

  #destroy(s: Session, why: 'deleted' | 'timed out' | 'flushed' | 'shutdown'): void {
    if (s.destroyed) return;
    s.destroyed = true;
    const ports = [s.legs[0].port, s.legs[1].port];
    this.#legs.close(s);
    this.#sessions.remove(s);
    this.#sources.removed(s.source);
    const [l0, l1] = s.legs;
    const rtpIn = [l0.rtp.received > 0, l1.rtp.received > 0];
    const rtcpIn = [l0.rtcp.received > 0, l1.rtcp.received > 0];
    this.#stats.nsess_destroyed++;
    if (rtpIn[0] && rtpIn[1]) this.#stats.nsess_complete++;
    else if (rtpIn[0] || rtpIn[1]) this.#stats.nsess_owrtp++;
    else this.#stats.nsess_nortp++;
    if (!rtcpIn[0] && !rtcpIn[1]) this.#stats.nsess_nortcp++;
    else if (!(rtcpIn[0] && rtcpIn[1])) this.#stats.nsess_owrtcp++;
    const duration = (this.#clock.now() - s.created) / 1000;
    this.#stats.total_duration += duration;
    this.#log.info(
      {
        event: why === 'timed out' ? 'timeout' : 'deleted',
        reason: why,
        callId: s.callId,
        fromTag: s.fromTag,
        toTag: s.toTag,
        ports,
        duration,
        relayed: l0.rtp.relayed + l1.rtp.relayed,
        dropped: l0.rtp.dropped + l1.rtp.dropped,
      },
      why === 'timed out' ? 'session timed out' : 'session deleted',
    );
  }
}
