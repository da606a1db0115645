/**
 * One cluster: answers the rtpproxy control protocol exactly as one rtpproxy would, and spreads
 * sessions over its members (digest §5, with the flaws of traps 7 and 13–18 fixed):
 *
 * - V is answered here (a balancer with no healthy member must not be disabled by every SIP
 *   proxy); VF is the intersection over online members, never a claim one of them lacks;
 *   `I`/`Ib` and `G` are aggregated over online members; X goes to every member.
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
 */
import { isIP } from 'node:net';
import {
  ChurnMap,
  type NotifyTarget,
  parseReply,
  type RtppCommand,
  type RtppPortReply,
  type RtppReply,
  type RtppSessionCommand,
  serializeReply,
  type UpdateCommand,
} from '@sipedge/rtpp';
import { CallTable } from '../calls/call-table.js';
import { type ClusterConfig, type MemberConfig, splitHostPort } from '../config/schema.js';
import {
  classifyReply,
  errorCodeOf,
  type PlainKind,
  type PlainSession,
  REPLY_ERROR,
  REPLY_NEGATIVE,
  REPLY_OTHER,
  REPLY_POSITIVE,
  scanPlainSession,
} from '../fast-path.js';
import {
  BASE_VERSION,
  defaultMemberOptions,
  Member,
  type MemberLinkFactory,
  type MemberOptions,
  type MemberState,
  systemTimers,
  type Timers,
} from '../member.js';
import { type SelectionStrategy, weightedCapacitySelection } from './select.js';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

export type RtpClusterEvent =
  | { readonly type: 'member_up'; readonly cluster: string; readonly member: string }
  | { readonly type: 'member_down'; readonly cluster: string; readonly member: string }
  | { readonly type: 'member_added'; readonly cluster: string; readonly member: string }
  | { readonly type: 'member_draining'; readonly cluster: string; readonly member: string }
  | { readonly type: 'member_removed'; readonly cluster: string; readonly member: string };

export interface RtpClusterOptions {
  /** Opens the rtpp client of a member (an RtppClient in production, a script in tests). */
  readonly connect: MemberLinkFactory;
  readonly timers?: Timers;
  readonly random?: () => number;
  readonly selection?: SelectionStrategy;
  /**
   * Makes the call-id table of a cluster (to persist or replicate it, or to give it a wall
   * clock). By default each cluster gets a table on the balancer's timers.
   */
  readonly callTableFor?: (cluster: string) => CallTable;
  readonly member?: Partial<MemberOptions>;
  readonly logger?: Logger;
  readonly onEvent?: (event: RtpClusterEvent) => void;
  /**
   * Whether the owner runs a DisconnectRelay on each cluster's `disconnect_notify` address
   * (digest §5.5); without it, notify arguments are not passed to network members.
   */
  readonly disconnectRelay?: boolean;
}

export interface ClusterCounters {
  commands: number;
  newSessions: number;
  broadcasts: number;
  noMember: number;
  backendTimeouts: number;
  failovers: number;
  /** Member replies E7–E10 answered as E997. */
  memberFailures: number;
}

/**
 * OpenSIPS reads E7–E10 as "this rtpproxy is broken" and disables it — the whole balancer, here.
 * A client's malformed command is answered with the nearest harmless shape instead: modifier
 * errors (E7–E9) as E2, a bad notify-tag escape (E10) as E5. Give it to RtppServer's
 * `parseErrorCode`.
 */
export function balancerParseErrorCode(code: number): number {
  if (code === 10) return 5;
  if (code >= 7 && code <= 9) return 2;
  return code;
}

/** One side (text or parsed) of the new-session rule; `A` is the command, `T` the member's answer. */
interface NewSessionOps<A, T, R> {
  /** Sends to the member; `done` gets (undefined, answer) or (error, undefined), once, later. */
  send(m: Member, arg: A, done: (err: unknown, res: T | undefined) => void): void;
  /** The client's reply for the member's answer; sets `#positive`. */
  answer(res: T, m: Member, arg: A): R;
  error(code: 997 | 998 | 999, arg: A): R;
  crashed(err: unknown, arg: A): R;
}

const SESSION_KINDS = new Set(['U', 'L', 'D', 'P', 'S', 'R', 'C', 'N', 'Q']);

const value = (v: string): RtppReply => ({ kind: 'value', value: v });
const error = (code: number): RtppReply => ({ kind: 'error', code });
const missPort: RtppPortReply = { kind: 'port', port: 0, ipv6: false, subResults: [] };

/** A copy of a command without its original text, so it is serialised from its fields. */
function edited<T extends RtppCommand>(cmd: T, changes: Partial<T>): T {
  const { raw: _raw, ...rest } = cmd;
  return { ...rest, ...changes } as T;
}

function isPositive(reply: RtppReply): boolean {
  if (reply.kind === 'error') return false;
  if (reply.kind === 'port') return reply.port !== 0;
  return true;
}

function isTransportFailure(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'RTPP_ERR_TIMEOUT' || code === 'RTPP_ERR_PROTOCOL' || code === 'RTPP_ERR_SOCKET';
}

export class RtpCluster {
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
  };
  readonly #members = new Map<string, Member>();
  #memberList: readonly Member[] | undefined;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #select: SelectionStrategy;
  readonly #memberOptions: MemberOptions;
  readonly #connect: MemberLinkFactory;
  readonly #log: Logger;
  readonly #onEvent: (event: RtpClusterEvent) => void;
  readonly #relay: boolean;
  /**
   * New calls whose member is being chosen, with the commands of the call that arrived meanwhile
   * and wait for the choice (null while none waits).
   */
  readonly #choosing = new ChurnMap<string, ((owner: Member | undefined) => void)[] | null>();
  #sweepTimer: unknown;
  #started = false;
  /** The fast path's scan result, reused by every command. */
  readonly #scan: PlainSession = { kind: 'U', callId: '', hasToTag: false };

  constructor(config: ClusterConfig, options: RtpClusterOptions) {
    this.name = config.name;
    this.config = config;
    this.#timers = options.timers ?? systemTimers;
    this.#random = options.random ?? Math.random;
    this.#select = options.selection ?? weightedCapacitySelection;
    this.#memberOptions = { ...defaultMemberOptions, ...options.member };
    this.#connect = options.connect;
    this.#log = options.logger ?? silentLogger;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#relay = options.disconnectRelay === true;
    this.callTable = options.callTableFor?.(config.name) ?? new CallTable({ clock: this.#timers });
    for (const m of config.rtpproxies) this.#addMember(m);
  }

  /** Members in configuration order (a snapshot, replaced whenever membership changes). */
  get members(): readonly Member[] {
    this.#memberList ??= [...this.#members.values()];
    return this.#memberList;
  }

  member(name: string): Member | undefined {
    return this.#members.get(name);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const m of this.#members.values()) m.start();
    this.#scheduleHousekeeping();
  }

  async stop(): Promise<void> {
    this.#started = false;
    if (this.#sweepTimer !== undefined) this.#timers.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    await Promise.all([...this.#members.values()].map((m) => m.stop()));
  }

  /**
   * Answers one command as an rtpproxy would. Never throws, never rejects.
   *
   * The session path is a chain of plain promises, not nested async functions: a forwarded
   * command costs one reaction per layer (member reply → call table → client reply) instead of
   * an await and a promise adoption per layer.
   */
  handle(cmd: RtppCommand): Promise<RtppReply> {
    this.counters.commands++;
    try {
      switch (cmd.kind) {
        case 'V':
          return Promise.resolve(value(BASE_VERSION));
        case 'VF':
          return Promise.resolve(value(this.supports(cmd.date) ? '1' : '0'));
        case 'I':
          return Promise.resolve(this.#info(cmd.load));
        case 'G':
          return this.#stats(cmd).catch((err: unknown) => this.#crashed(err, cmd));
        case 'X':
          return this.#flush(cmd).catch((err: unknown) => this.#crashed(err, cmd));
        default:
          if (SESSION_KINDS.has(cmd.kind)) return this.#session(cmd as RtppSessionCommand);
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
   * (`(text, _ctx, respond) => cluster.answerText(text, respond) || undefined`). Never throws.
   */
  answerText(text: string, respond: (body: string) => void): boolean {
    const scan = this.#scan;
    try {
      if (!scanPlainSession(text, scan)) return false;
    } catch {
      return false;
    }
    const callId = scan.callId;
    const kind = scan.kind;
    if (this.#choosing.has(callId)) return false;
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
    this.#placeNewSession(callId, text, this.#textOps, respond);
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
      return serializeReply(this.#fromMember(reply, m));
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
    send: (m, text, done) => m.sendText(text, 'U', done),
    answer: (body, m) => {
      const out = this.#textReply(body, 'U', m);
      this.#positive = this.#textClass === REPLY_POSITIVE;
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
    send: (m, cmd, done) => {
      m.send(this.#forMember(cmd, m)).then(
        (reply) => done(undefined, reply),
        (err: unknown) => done(err ?? new Error('member link rejected'), undefined),
      );
    },
    answer: (reply, m) => {
      const out = this.#fromMember(reply, m);
      this.#positive = isPositive(reply);
      return out;
    },
    error: (code) => error(code),
    crashed: (err, cmd) => this.#crashed(err, cmd),
  };

  /** Whether the last `answer` of a NewSessionOps was positive (a field: nothing to allocate). */
  #positive = false;

  /** A command that failed inside the balancer (a bug, or a member link that threw). */
  #crashed(err: unknown, cmd: RtppCommand): RtppReply {
    this.#log.error({ err, cluster: this.name, kind: cmd.kind }, 'command failed');
    return error(997);
  }

  /** True when every online member claims the capability (and notifications can be delivered). */
  supports(date: string): boolean {
    if (date === BASE_VERSION) return true;
    const online = this.#online();
    const pool = online.length > 0 ? online : this.members.filter((m) => m.capabilities.size > 0);
    if (pool.length === 0) return false;
    return pool.every((m) => {
      if (m.capabilities.get(date) !== true) return false;
      if (date === '20081224') return this.#canNotify(m);
      return true;
    });
  }

  // ---- membership (admin) ----

  addMember(config: MemberConfig): Member {
    if (this.#members.has(config.name)) {
      throw new Error(`${config.name}: RTPproxy already exists`);
    }
    const m = this.#addMember(config);
    if (this.#started) m.start();
    this.#onEvent({ type: 'member_added', cluster: this.name, member: m.name });
    return m;
  }

  /**
   * `delete`/`remove`: no new sessions; the member is removed when it holds no session (at once
   * when it is offline or idle).
   */
  drainMember(name: string): boolean {
    const m = this.#members.get(name);
    if (m === undefined) return false;
    m.status = 'DRAINING';
    this.#onEvent({ type: 'member_draining', cluster: this.name, member: name });
    void this.#checkDrain(m);
    return true;
  }

  pauseMember(name: string): boolean {
    const m = this.#members.get(name);
    if (m === undefined) return false;
    if (m.status !== 'DRAINING') m.status = 'SUSPENDED';
    return true;
  }

  resumeMember(name: string): boolean {
    const m = this.#members.get(name);
    if (m === undefined) return false;
    m.status = 'ACTIVE';
    return true;
  }

  /** Applies a new configuration of this cluster (reload): add, reconfigure, drain. */
  async reconfigure(config: ClusterConfig): Promise<void> {
    this.config = config;
    const wanted = new Set(config.rtpproxies.map((m) => m.name));
    for (const mc of config.rtpproxies) {
      const existing = this.#members.get(mc.name);
      if (existing === undefined) this.addMember(mc);
      else await existing.reconfigure(mc);
    }
    for (const m of this.members) if (!wanted.has(m.name)) this.drainMember(m.name);
  }

  // ---- internals ----

  #addMember(config: MemberConfig): Member {
    const m = new Member(config, this.#connect, this.#timers, this.#memberOptions, {
      onStateChange: (member, from, to) => this.#memberStateChanged(member, from, to),
      onHeartbeat: (member) => {
        if (member.status === 'DRAINING') void this.#checkDrain(member);
      },
    });
    m.liveCalls = () => this.callTable.liveCalls(m.name);
    this.#members.set(config.name, m);
    this.#memberList = undefined;
    return m;
  }

  #memberStateChanged(m: Member, from: MemberState, to: MemberState): void {
    this.#log.info({ cluster: this.name, member: m.name, from, to }, 'member state');
    if (to === 'online') this.#onEvent({ type: 'member_up', cluster: this.name, member: m.name });
    else if (from === 'online')
      this.#onEvent({ type: 'member_down', cluster: this.name, member: m.name });
    if (m.status === 'DRAINING') void this.#checkDrain(m);
  }

  async #checkDrain(m: Member): Promise<void> {
    if (m.status !== 'DRAINING' || this.#members.get(m.name) !== m) return;
    const idle =
      !m.online || (this.callTable.liveCalls(m.name) === 0 && (m.reportedSessions ?? 0) === 0);
    if (!idle) return;
    this.#members.delete(m.name);
    this.#memberList = undefined;
    this.callTable.forgetMember(m.name);
    await m.stop();
    this.#log.info({ cluster: this.name, member: m.name }, 'member removed');
    this.#onEvent({ type: 'member_removed', cluster: this.name, member: m.name });
  }

  #scheduleHousekeeping(): void {
    this.#sweepTimer = this.#timers.setTimeout(() => {
      this.callTable.sweep();
      for (const m of this.members) if (m.status === 'DRAINING') void this.#checkDrain(m);
      if (this.#started) this.#scheduleHousekeeping();
    }, this.#memberOptions.heartbeatIntervalMs);
  }

  #online(): Member[] {
    return this.members.filter((m) => m.online);
  }

  #canNotify(m: Member): boolean {
    const local = m.config.protocol === 'unix' || m.config.protocol === 'cunix';
    return local || this.#relayPort() !== undefined;
  }

  #info(withLoad: boolean): RtppReply {
    const sum = {
      created: 0,
      active: 0,
      streams: 0,
      received: 0,
      transmitted: 0,
    };
    let load = 0;
    const online = this.#online();
    for (const m of online) {
      const hb = m.heartbeat;
      sum.created += hb?.sessionsCreated ?? m.counters.sessions;
      sum.active += m.reportedSessions ?? m.activeSessions;
      sum.streams += hb?.activeStreams ?? 0;
      sum.received += hb?.packetsReceived ?? 0;
      sum.transmitted += hb?.packetsTransmitted ?? 0;
      load += m.activeSessions / m.config.capacity;
    }
    const entries: [string, string][] = [
      ['sessions created', String(sum.created)],
      ['active sessions', String(sum.active)],
      ['active streams', String(sum.streams)],
      ['packets received', String(sum.received)],
      ['packets transmitted', String(sum.transmitted)],
    ];
    if (withLoad) {
      entries.push(['average load', (online.length > 0 ? load / online.length : 0).toFixed(6)]);
    }
    return { kind: 'info', entries };
  }

  async #stats(cmd: Extract<RtppCommand, { kind: 'G' }>): Promise<RtppReply> {
    if (cmd.names.length === 0) {
      return cmd.verbose
        ? { kind: 'list', values: [], names: [], subResults: [] }
        : { kind: 'list', values: [], subResults: [] };
    }
    const online = this.#online().filter((m) => m.capabilities.get('20141004') === true);
    if (online.length === 0) return error(993);
    const plain = edited(cmd, { verbose: false, modifiers: '' });
    const results = await Promise.allSettled(online.map((m) => m.send(plain)));
    const sums = cmd.names.map(() => 0);
    const isFloat = cmd.names.map(() => false);
    let answered = 0;
    for (const r of results) {
      if (r.status !== 'fulfilled') continue;
      const reply = r.value;
      if (reply.kind === 'error') {
        if (reply.code === 68) return error(68);
        continue;
      }
      if (reply.kind !== 'list' || reply.values.length !== cmd.names.length) continue;
      answered++;
      reply.values.forEach((v, i) => {
        if (v.includes('.')) isFloat[i] = true;
        sums[i] = (sums[i] ?? 0) + (Number(v) || 0);
      });
    }
    if (answered === 0) return error(993);
    const values = sums.map((s, i) => (isFloat[i] ? s.toFixed(6) : String(s)));
    return cmd.verbose
      ? { kind: 'list', values, names: cmd.names, subResults: [] }
      : { kind: 'list', values, subResults: [] };
  }

  async #flush(cmd: RtppCommand): Promise<RtppReply> {
    const online = this.#online();
    const results = await Promise.allSettled(online.map((m) => m.send(cmd)));
    for (const m of online) this.callTable.forgetMember(m.name);
    const failed = results.some((r) => r.status === 'rejected' || r.value.kind === 'error');
    return failed ? error(997) : value('0');
  }

  /** Never rejects (see handle). */
  #session(cmd: RtppSessionCommand): Promise<RtppReply> {
    const waiting = this.#choosing.get(cmd.callId);
    if (waiting !== undefined) {
      // the call's member is being chosen: wait for the choice
      return new Promise<RtppReply>((resolve) => {
        const waiter = (owner: Member | undefined): void => {
          try {
            resolve(this.#route(cmd, owner));
          } catch (err) {
            resolve(this.#crashed(err, cmd));
          }
        };
        if (waiting === null) this.#choosing.set(cmd.callId, [waiter]);
        else waiting.push(waiter);
      });
    }
    return this.#route(cmd, undefined);
  }

  #route(cmd: RtppSessionCommand, chosen: Member | undefined): Promise<RtppReply> {
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
          this.#sendQuietly(owner, this.#forMember(cmd, owner));
          return Promise.resolve(value('0'));
        }
        if (isNewLeg) return this.#newSession(cmd as UpdateCommand);
      }
      return this.#forward(owner, cmd);
    }
    if (isNewLeg) return this.#newSession(cmd as UpdateCommand);
    return this.#broadcast(cmd);
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
    return m.send(this.#forMember(cmd, m)).then(
      (reply) => {
        try {
          if (cmd.kind === 'D' && reply.kind !== 'error') this.callTable.markDeleted(cmd.callId);
          else if (cmd.kind === 'U' && isPositive(reply)) this.callTable.bind(cmd.callId, m.name);
          return this.#fromMember(reply, m);
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

  /** Members that may take a new session, but `exclude`. */
  #eligible(exclude: Member | undefined): Member[] {
    const out: Member[] = [];
    const list = this.members;
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      if (m.online && m.status === 'ACTIVE' && m !== exclude) out.push(m);
    }
    return out;
  }

  #anyOnline(): boolean {
    const list = this.members;
    for (let i = 0; i < list.length; i++) if (list[i]!.online) return true;
    return false;
  }

  /** Places a new session on a member (on another once if it does not answer). Never rejects. */
  #newSession(cmd: UpdateCommand): Promise<RtppReply> {
    return new Promise<RtppReply>((resolve) => {
      this.#placeNewSession(cmd.callId, cmd, this.#parsedOps, resolve);
    });
  }

  /**
   * The new-session rule shared by the parsed and the text paths: choose a member (weighted,
   * within capacity), try one other once if it does not answer, bind the call on a positive
   * answer; later commands of the call wait in `#choosing` meanwhile. `finish` gets the reply
   * once. Callbacks, not promises: this runs for every new call.
   */
  #placeNewSession<A, T, R>(
    callId: string,
    arg: A,
    ops: NewSessionOps<A, T, R>,
    finish: (out: R) => void,
  ): void {
    this.#choosing.set(callId, null);
    this.#tryNewSession(callId, arg, ops, finish, undefined);
  }

  #tryNewSession<A, T, R>(
    callId: string,
    arg: A,
    ops: NewSessionOps<A, T, R>,
    finish: (out: R) => void,
    tried: Member | undefined,
  ): void {
    let out: R;
    try {
      const candidates = this.#eligible(tried);
      if (candidates.length === 0) {
        if (tried === undefined) this.counters.noMember++;
        out = ops.error(tried !== undefined ? 997 : this.#anyOnline() ? 998 : 999, arg);
      } else {
        const m = this.#select(candidates, this.config.capacity_limit, this.#random);
        if (m === undefined) {
          this.counters.noMember++;
          out = ops.error(998, arg);
        } else {
          ops.send(m, arg, (err, res) => {
            this.#newSessionAnswered(callId, arg, ops, finish, m, tried, err, res);
          });
          return;
        }
      }
    } catch (err) {
      out = ops.crashed(err, arg);
    }
    this.#chosen(callId, undefined);
    finish(out);
  }

  #newSessionAnswered<A, T, R>(
    callId: string,
    arg: A,
    ops: NewSessionOps<A, T, R>,
    finish: (out: R) => void,
    m: Member,
    tried: Member | undefined,
    err: unknown,
    res: T | undefined,
  ): void {
    let out: R;
    let owner: Member | undefined;
    try {
      if (err !== undefined) {
        if (!isTransportFailure(err)) throw err;
        this.counters.backendTimeouts++;
        this.counters.failovers++;
        this.#log.warn({ cluster: this.name, member: m.name, callId }, 'new session failed over');
        if (tried === undefined) {
          this.#tryNewSession(callId, arg, ops, finish, m);
          return;
        }
        out = ops.error(997, arg);
      } else {
        out = ops.answer(res as T, m, arg);
        if (this.#positive) {
          this.callTable.bind(callId, m.name);
          m.counters.sessions++;
          this.counters.newSessions++;
          owner = m;
        }
      }
    } catch (e) {
      out = ops.crashed(e, arg);
    }
    this.#chosen(callId, owner);
    finish(out);
  }

  /** The new call's member is known (or none could take it): its waiting commands go on. */
  #chosen(callId: string, owner: Member | undefined): void {
    const waiters = this.#choosing.get(callId);
    this.#choosing.delete(callId);
    if (waiters === null || waiters === undefined) return;
    for (const w of waiters) w(owner);
  }

  /** Never rejects. */
  async #broadcast(cmd: RtppSessionCommand): Promise<RtppReply> {
    try {
      return await this.#lookupByBroadcast(cmd);
    } catch (err) {
      return this.#crashed(err, cmd);
    }
  }

  async #lookupByBroadcast(cmd: RtppSessionCommand): Promise<RtppReply> {
    this.counters.broadcasts++;
    const online = this.#online();
    if (online.length === 0) return error(999);
    // a U with to_tag for an unknown call: look it up first, as the answer side (forced lookup)
    const forced = cmd.kind === 'U';
    const probe: RtppSessionCommand = forced
      ? (() => {
          const { notify: _n, ...rest } = cmd as UpdateCommand;
          return edited(rest as UpdateCommand, {
            kind: 'L',
            fromTag: cmd.toTag!,
            toTag: cmd.fromTag,
          });
        })()
      : cmd;
    const targets =
      probe.kind === 'Q' ? online.filter((m) => m.capabilities.get('20080403') === true) : online;
    const results = await Promise.allSettled(targets.map((m) => m.send(this.#forMember(probe, m))));
    const positive: { m: Member; reply: RtppReply }[] = [];
    const codes = new Set<number>();
    results.forEach((r, i) => {
      if (r.status !== 'fulfilled') return;
      if (isPositive(r.value)) positive.push({ m: targets[i]!, reply: r.value });
      else if (r.value.kind === 'error') codes.add(r.value.code);
    });
    if (cmd.kind === 'D') {
      return positive.length > 0 ? value('0') : error(50);
    }
    if (positive.length === 1) {
      const { m, reply } = positive[0]!;
      this.callTable.bind(cmd.callId, m.name);
      return this.#fromMember(reply, m);
    }
    if (positive.length === 0) {
      if (forced) return this.#newSession(cmd as UpdateCommand);
      if (cmd.kind === 'L') return missPort;
      if (codes.size === 1) return this.#fromMember(error([...codes][0]!), targets[0]!);
      return error(50);
    }
    return cmd.kind === 'L' ? missPort : error(995);
  }

  /** The command as this member should see it (lan_address binding, notify rewriting). */
  #forMember<T extends RtppSessionCommand>(cmd: T, m: Member): T {
    if (cmd.kind !== 'U' && cmd.kind !== 'L') return cmd;
    let out = cmd as UpdateCommand;
    const lan = m.config.lan_address;
    if (lan !== undefined) {
      const { remoteAddress: _r, ...mods } = out.mods;
      out = edited(out, { mods: { ...mods, localAddress: lan } });
    }
    if (out.notify !== undefined) {
      const notify = this.#notifyFor(out.notify, m);
      if (notify !== out.notify) {
        const { notify: _n, ...rest } = out;
        out = notify === undefined ? edited(rest as UpdateCommand, {}) : edited(out, { notify });
      }
    }
    return out as T;
  }

  #notifyFor(notify: NotifyTarget, m: Member): NotifyTarget | undefined {
    if (m.config.protocol === 'unix' || m.config.protocol === 'cunix') return notify;
    const dn = this.config.disconnect_notify;
    if (
      dn === undefined ||
      this.#relayPort() === undefined ||
      m.capabilities.get('20150617') !== true ||
      !notify.socket.startsWith(dn.dest_socket_prefix)
    ) {
      return undefined;
    }
    const suffix = notify.socket.slice(dn.dest_socket_prefix.length);
    return { socket: `tcp:%%CC_SELF%%:${this.#relayPort()}`, tag: `${suffix} ${notify.tag}` };
  }

  /** The disconnect relay's port when one runs for this cluster. */
  #relayPort(): number | undefined {
    const dn = this.config.disconnect_notify;
    if (!this.#relay || dn === undefined) return undefined;
    return splitHostPort(dn.inbound_address)?.port;
  }

  /** The reply as the client should see it (wan_address rewriting, IPv6 flag kept right). */
  #fromMember(reply: RtppReply, m: Member): RtppReply {
    if (reply.kind === 'error' && reply.code >= 7 && reply.code <= 10) {
      // a member's E7–E10 must not make the client disable the balancer: the member failed
      this.counters.memberFailures++;
      return error(997);
    }
    const wan = m.config.wan_address;
    if (wan === undefined || reply.kind !== 'port' || reply.port === 0) return reply;
    const { family: _f, ...rest } = reply;
    return { ...rest, address: wan, ipv6: isIP(wan) === 6 };
  }
}
