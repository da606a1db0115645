/**
 * One cluster: answers the rtpproxy control protocol exactly as one rtpproxy would, and spreads
 * sessions over its members (docs/protocols/rtpproxy.md §5; where it departs from sippy's
 * rtp_cluster, §5.9):
 *
 * - V is answered here (a balancer with no healthy member must not be disabled by every SIP
 *   proxy); VF is the intersection over online members, never a claim one of them lacks;
 *   `I`/`Ib` and `G` are aggregated over online members. X from a control-socket sender deletes
 *   only that sender's calls; an in-process X goes to every member (sources.ts).
 * - A new session (U without to_tag, for a call-id nobody holds) goes to a member chosen by the
 *   selection strategy; the call is bound only when the member confirms, and commands for the
 *   same call that arrive meanwhile wait for that choice, so a call's media numbers never split.
 *   A member that times out on a new session is replaced by another once.
 * - Every other command of a bound call goes to its member. An unknown call is looked up by
 *   broadcast; a U with to_tag becomes a forced lookup (L, tags swapped, notify dropped); the
 *   call binds to the one positive responder. A U with to_tag that nobody knows creates a new
 *   session, as rtpproxy's U does.
 * - Replies from a member with `wan_address` carry that address, keeping the IPv6 flag right;
 *   commands to a member with `lan_address` bind it locally and drop the remote-address hint.
 * - Q is never sent to a member that does not claim per-session statistics (20080403): rtpengine
 *   hangs on it.
 *
 * This file routes commands: the dispatch, a bound call's commands to its member, and the text
 * fast path. The rest is beside it: new-session.ts (member choice, failover, waiting commands),
 * broadcast.ts (unknown calls), rewrite.ts (lan/wan addresses, notify), aggregate.ts (VF, I, G,
 * X), membership.ts (add, drain, pause, resume, reload), replies.ts (reply shapes, E-codes),
 * sources.ts (calls per command source, X of one source).
 */
import { type Clock, type Logger, monotonicClock, noopLogger } from '@sipedge/core';
import type { RtppCommand, RtppReply, RtppSessionCommand, UpdateCommand } from '@sipedge/rtpp';
import { parseReply, serializeReply } from '@sipedge/rtpp';
import { CallTable } from '../calls/call-table.js';
import type { ClusterConfig, MemberConfig } from '../config/schema.js';
import {
  classifyReply,
  errorCodeOf,
  type PlainKind,
  type PlainSession,
  REPLY_ERROR,
  REPLY_NEGATIVE,
  REPLY_OTHER,
  REPLY_POSITIVE,
  scannedFromTag,
  scanPlainSession,
} from '../fast-path.js';
import { BASE_VERSION, defaultMemberOptions, type Member } from '../member.js';
import { flush, info, stats, supports } from './aggregate.js';
import { lookupByBroadcast } from './broadcast.js';
import { Membership } from './membership.js';
import { type NewSessionOps, NewSessions } from './new-session.js';
import type { ClusterCounters, ClusterView, RtpClusterOptions } from './options.js';
import { error, isPositive, value } from './replies.js';
import { commandForMember, replyFromMember } from './rewrite.js';
import { weightedCapacitySelection } from './select.js';
import { SOURCE_LIMITED_CODE, SourceRules } from './sources.js';

const SESSION_KINDS = new Set(['U', 'L', 'D', 'P', 'S', 'R', 'C', 'N', 'Q']);

export class RtpCluster implements ClusterView {
  readonly name: string;
  config: ClusterConfig;
  readonly callTable: CallTable;
  readonly counters: ClusterCounters = {
    commands: 0,
    newSessions: 0,
    broadcasts: 0,
    noMember: 0,
    backendTimeouts: 0,
    failovers: 0,
    memberFailures: 0,
    sourceLimited: 0,
  };
  readonly #membership: Membership;
  /** The membership's members by name (one map for the cluster's life), read on every command. */
  readonly #members: ReadonlyMap<string, Member>;
  readonly #newSessions: NewSessions;
  readonly #sources: SourceRules;
  readonly #timers: Clock;
  readonly #housekeepingMs: number;
  readonly #log: Logger;
  readonly #relay: boolean;
  #sweepTimer: unknown;
  #started = false;
  /** The fast path's scan result, reused by every command. */
  readonly #scan: PlainSession = { kind: 'U', callId: '', hasToTag: false };

  constructor(config: ClusterConfig, options: RtpClusterOptions) {
    this.name = config.name;
    this.config = config;
    this.#timers = options.timers ?? monotonicClock;
    const memberOptions = { ...defaultMemberOptions, ...options.member };
    this.#housekeepingMs = memberOptions.heartbeatIntervalMs;
    this.#log = options.logger ?? noopLogger;
    this.#relay = options.disconnectRelay === true;
    this.callTable = options.callTableFor?.(config.name) ?? new CallTable({ clock: this.#timers });
    this.#membership = new Membership(config.rtpproxies, {
      cluster: config.name,
      callTable: this.callTable,
      connect: options.connect,
      timers: this.#timers,
      member: memberOptions,
      log: this.#log,
      onEvent: options.onEvent ?? (() => {}),
    });
    this.#members = this.#membership.byName;
    this.#newSessions = new NewSessions(this, {
      select: options.selection ?? weightedCapacitySelection,
      random: options.random ?? Math.random,
      log: this.#log,
    });
    this.#sources = new SourceRules(this, {
      maxSessionsPerSource: options.maxSessionsPerSource,
      log: this.#log,
      clock: this.#timers,
    });
  }

  /** Members in configuration order (a snapshot, replaced whenever membership changes). */
  get members(): readonly Member[] {
    return this.#membership.list;
  }

  member(name: string): Member | undefined {
    return this.#members.get(name);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#membership.start();
    this.#scheduleHousekeeping();
  }

  async stop(): Promise<void> {
    this.#started = false;
    if (this.#sweepTimer !== undefined) this.#timers.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#sources.calls.close();
    await this.#membership.stop();
  }

  /**
   * Answers one command as an rtpproxy would. Never throws, never rejects. `source` is the
   * sender's address on a control socket (`local` for unix sockets): it is held to its cap of
   * calls, and its X deletes only its own calls (sources.ts); an in-process caller passes none.
   *
   * The session path is a chain of plain promises, not nested async functions: a forwarded
   * command costs one reaction per layer (member reply → call table → client reply) instead of
   * an await and a promise adoption per layer.
   */
  handle(cmd: RtppCommand, source?: string): Promise<RtppReply> {
    this.counters.commands++;
    try {
      switch (cmd.kind) {
        case 'V':
          return Promise.resolve(value(BASE_VERSION));
        case 'VF':
          return Promise.resolve(value(this.supports(cmd.date) ? '1' : '0'));
        case 'I':
          return Promise.resolve(info(this.members, cmd.load));
        case 'G':
          return stats(this.members, cmd).catch((err: unknown) => this.#crashed(err, cmd));
        case 'X':
          return (
            source === undefined
              ? flush(this.members, this.callTable, cmd)
              : this.#sources.flush(source, (m, d) =>
                  m.send(commandForMember(d, m, this.config, this.#relay)),
                )
          ).catch((err: unknown) => this.#crashed(err, cmd));
        default:
          if (SESSION_KINDS.has(cmd.kind)) {
            return this.#session(cmd as RtppSessionCommand, source);
          }
          return Promise.resolve(error(0));
      }
    } catch (err) {
      return Promise.resolve(this.#crashed(err, cmd));
    }
  }

  /**
   * The fast path: answers a plain U, L or D (see fast-path.ts) from its text, forwarding the
   * client's text to the member and the member's reply text back, without command or reply
   * objects — with the same routing, call table, counters and E-code rules as `handle`. Returns
   * the reply body (ending in `\n`), or undefined for anything it leaves to `handle`: a command
   * that is not plain, a call whose member is being chosen or is not online, a call nobody holds
   * (broadcast lookups, forced lookups), a member whose addresses are rewritten. Never throws,
   * never rejects.
   */
  handleText(text: string): Promise<string> | undefined {
    let resolve: ((body: string) => void) | undefined;
    let early: string | undefined;
    const taken = this.answerText(text, (body) => {
      if (resolve === undefined) early = body;
      else resolve(body);
    });
    if (!taken) return undefined;
    if (early !== undefined) return Promise.resolve(early);
    return new Promise<string>((r) => {
      resolve = r;
    });
  }

  /**
   * `handleText` without a promise: true when the command is taken, and then `respond` gets the
   * reply body exactly once (synchronously only when no member can be tried); false when it is
   * left to `handle`. Give it to RtppServer's `textHandler`
   * (`(text, ctx, respond) => cluster.answerText(text, respond, source) || undefined`), with the
   * same `source` as `handle`'s. Never throws.
   */
  answerText(text: string, respond: (body: string) => void, source?: string): boolean {
    const scan = this.#scan;
    try {
      if (!scanPlainSession(text, scan)) return false;
    } catch {
      return false;
    }
    const callId = scan.callId;
    const kind = scan.kind;
    if (this.#newSessions.isChoosing(callId)) return false;
    const bound = this.callTable.lookup(callId);
    if (bound !== undefined) {
      const m = this.#members.get(bound);
      if (m === undefined || !m.online || !m.plainText) return false;
      this.counters.commands++;
      this.#forwardText(m, kind, callId, text, respond);
      return true;
    }
    if (kind !== 'U' || scan.hasToTag || !this.#allPlainText()) return false;
    this.counters.commands++;
    if (source === undefined) {
      this.#newSessions.place(callId, text, this.#textOps, respond);
      return true;
    }
    if (!this.#sources.admit(source)) {
      respond(`E${SOURCE_LIMITED_CODE}\n`);
      return true;
    }
    const fromTag = scannedFromTag(text);
    this.#newSessions.place(callId, text, this.#textOps, (body) => {
      this.#sources.calls.settle(source, callId, fromTag);
      respond(body);
    });
    return true;
  }

  #allPlainText(): boolean {
    const list = this.members;
    for (let i = 0; i < list.length; i++) if (!list[i]!.plainText) return false;
    return true;
  }

  /**
   * The client's reply text for a member's reply body to a plain command, and what it means
   * for the call table (REPLY_ERROR, REPLY_NEGATIVE or REPLY_POSITIVE in `#textClass`).
   */
  #textReply(body: string, kind: PlainKind, m: Member): string {
    const cls = classifyReply(body, kind);
    if (cls === REPLY_OTHER) {
      // an unusual but valid shape (Member.sendRaw rejected garbage): the parsed path's rules
      const reply = parseReply(body, kind);
      this.#textClass =
        reply.kind === 'error' ? REPLY_ERROR : isPositive(reply) ? REPLY_POSITIVE : REPLY_NEGATIVE;
      return serializeReply(replyFromMember(reply, m, this.counters));
    }
    this.#textClass = cls;
    if (cls === REPLY_ERROR) {
      const code = errorCodeOf(body);
      if (code >= 7 && code <= 10) {
        this.counters.memberFailures++;
        return 'E997\n';
      }
    }
    return `${body}\n`;
  }

  /** What the last `#textReply` found (a field, not a returned pair: nothing to allocate). */
  #textClass = REPLY_NEGATIVE;

  /** `#forward` for a plain command as text; `respond` gets the reply body. */
  #forwardText(
    m: Member,
    kind: PlainKind,
    callId: string,
    text: string,
    respond: (body: string) => void,
  ): void {
    m.sendText(text, kind, (err, body) => {
      let out: string;
      if (err !== undefined) {
        this.counters.backendTimeouts++;
        this.#log.warn({ err, cluster: this.name, member: m.name, kind }, 'no reply');
        out = 'E997\n';
      } else {
        try {
          out = this.#textReply(body, kind, m);
          const cls = this.#textClass;
          if (kind === 'D' && cls !== REPLY_ERROR) this.callTable.markDeleted(callId);
          else if (kind === 'U' && cls === REPLY_POSITIVE) this.callTable.bind(callId, m.name);
        } catch (e) {
          this.#log.error({ err: e, cluster: this.name, kind }, 'command failed');
          out = 'E997\n';
        }
      }
      respond(out);
    });
  }

  /** The new-session rule's text side: a plain U's text to the member, its reply text back. */
  readonly #textOps: NewSessionOps<string, string, string> = {
    positive: false,
    send: (m, text, done) => m.sendText(text, 'U', done),
    answer: (body, m) => {
      const out = this.#textReply(body, 'U', m);
      this.#textOps.positive = this.#textClass === REPLY_POSITIVE;
      return out;
    },
    error: (code) => `E${code}\n`,
    crashed: (err) => {
      this.#log.error({ err, cluster: this.name, kind: 'U' }, 'command failed');
      return 'E997\n';
    },
  };

  /** The new-session rule's parsed side: the command (as this member should see it) and reply. */
  readonly #parsedOps: NewSessionOps<UpdateCommand, RtppReply, RtppReply> = {
    positive: false,
    send: (m, cmd, done) => {
      m.send(commandForMember(cmd, m, this.config, this.#relay)).then(
        (reply) => done(undefined, reply),
        (err: unknown) => done(err ?? new Error('member link rejected'), undefined),
      );
    },
    answer: (reply, m) => {
      const out = replyFromMember(reply, m, this.counters);
      this.#parsedOps.positive = isPositive(reply);
      return out;
    },
    error: (code) => error(code),
    crashed: (err, cmd) => this.#crashed(err, cmd),
  };

  /** A command that failed inside the balancer (a bug, or a member link that threw). */
  #crashed(err: unknown, cmd: RtppCommand): RtppReply {
    this.#log.error({ err, cluster: this.name, kind: cmd.kind }, 'command failed');
    return error(997);
  }

  /** True when every online member claims the capability (and notifications can be delivered). */
  supports(date: string): boolean {
    return supports(this.members, date, this.config, this.#relay);
  }

  // ---- membership (admin) ----

  addMember(config: MemberConfig): Member {
    return this.#membership.add(config);
  }

  /**
   * `delete`/`remove`: no new sessions; the member is removed when it holds no session (at once
   * when it is offline or idle).
   */
  drainMember(name: string): boolean {
    return this.#membership.drain(name);
  }

  pauseMember(name: string): boolean {
    return this.#membership.pause(name);
  }

  resumeMember(name: string): boolean {
    return this.#membership.resume(name);
  }

  /** Applies a new configuration of this cluster (reload): add, reconfigure, drain. */
  async reconfigure(config: ClusterConfig): Promise<void> {
    this.config = config;
    await this.#membership.reconfigure(config.rtpproxies);
  }

  // ---- internals ----

  #scheduleHousekeeping(): void {
    this.#sweepTimer = this.#timers.setTimeout(() => {
      this.callTable.sweep();
      this.#membership.checkDrains();
      if (this.#started) this.#scheduleHousekeeping();
    }, this.#housekeepingMs);
  }

  /** Never rejects (see handle). */
  #session(cmd: RtppSessionCommand, source: string | undefined): Promise<RtppReply> {
    if (this.#newSessions.isChoosing(cmd.callId)) {
      // the call's member is being chosen: wait for the choice
      return new Promise<RtppReply>((resolve) => {
        this.#newSessions.wait(cmd.callId, (owner) => {
          try {
            resolve(this.#route(cmd, owner, source));
          } catch (err) {
            resolve(this.#crashed(err, cmd));
          }
        });
      });
    }
    return this.#route(cmd, undefined, source);
  }

  #route(
    cmd: RtppSessionCommand,
    chosen: Member | undefined,
    source: string | undefined,
  ): Promise<RtppReply> {
    const callId = cmd.callId;
    let owner = chosen;
    if (owner === undefined) {
      const bound = this.callTable.lookup(callId);
      owner = bound === undefined ? undefined : this.#members.get(bound);
    }
    const isNewLeg = cmd.kind === 'U' && cmd.toTag === undefined;
    if (owner !== undefined) {
      if (!owner.online && owner.state === 'offline') {
        if (cmd.kind === 'D') {
          // the member is gone: answer now, tell it in the background
          this.callTable.markDeleted(callId);
          this.#sendQuietly(owner, commandForMember(cmd, owner, this.config, this.#relay));
          return Promise.resolve(value('0'));
        }
        if (isNewLeg) return this.#newSession(cmd as UpdateCommand, source);
      }
      return this.#forward(owner, cmd);
    }
    if (isNewLeg) return this.#newSession(cmd as UpdateCommand, source);
    return this.#broadcast(cmd, source);
  }

  #sendQuietly(m: Member, cmd: RtppCommand): void {
    try {
      m.send(cmd).catch(() => {});
    } catch {
      // counted by the member
    }
  }

  /** Sends a command of a bound call to its member and keeps the table current. Never rejects. */
  #forward(m: Member, cmd: RtppSessionCommand): Promise<RtppReply> {
    if (cmd.kind === 'Q' && m.capabilities.get('20080403') !== true) {
      return Promise.resolve(error(0));
    }
    return m.send(commandForMember(cmd, m, this.config, this.#relay)).then(
      (reply) => {
        try {
          if (cmd.kind === 'D' && reply.kind !== 'error') this.callTable.markDeleted(cmd.callId);
          else if (cmd.kind === 'U' && isPositive(reply)) this.callTable.bind(cmd.callId, m.name);
          return replyFromMember(reply, m, this.counters);
        } catch (err) {
          return this.#crashed(err, cmd);
        }
      },
      (err: unknown) => {
        this.counters.backendTimeouts++;
        this.#log.warn({ err, cluster: this.name, member: m.name, kind: cmd.kind }, 'no reply');
        return error(997);
      },
    );
  }

  /**
   * Places a new session on a member (on another once if it does not answer), within the
   * source's cap. Never rejects.
   */
  #newSession(cmd: UpdateCommand, source: string | undefined): Promise<RtppReply> {
    if (source === undefined) {
      return new Promise<RtppReply>((resolve) => {
        this.#newSessions.place(cmd.callId, cmd, this.#parsedOps, resolve);
      });
    }
    if (!this.#sources.admit(source)) return Promise.resolve(error(SOURCE_LIMITED_CODE));
    return new Promise<RtppReply>((resolve) => {
      this.#newSessions.place(cmd.callId, cmd, this.#parsedOps, (reply) => {
        this.#sources.calls.settle(source, cmd.callId, cmd.fromTag);
        resolve(reply);
      });
    });
  }

  /** A call the table does not hold: asked of every member (broadcast.ts). Never rejects. */
  async #broadcast(cmd: RtppSessionCommand, source: string | undefined): Promise<RtppReply> {
    try {
      const reply = await lookupByBroadcast(this, cmd, this.#relay);
      return reply ?? (await this.#newSession(cmd as UpdateCommand, source));
    } catch (err) {
      return this.#crashed(err, cmd);
    }
  }
}
