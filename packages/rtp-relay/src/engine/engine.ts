/**
 * The media engine: rtpproxy sessions that really relay RTP and RTCP.
 *
 * A session is one call-id + from-tag (with its `;N` media number) and, once known, a to-tag.
 * It has two legs: leg 0 faces the party named by the session's from-tag (the caller), leg 1 the
 * other party. Each leg owns an RTP/RTCP socket pair; the party of leg i sends to leg i's ports
 * and receives from them (symmetric RTP). A packet that arrives on leg i is sent out of the other
 * leg's socket to the other party's address: the source of the first packet that party sent
 * (latching), or until then the address given in U/L.
 *
 * U addresses the leg of the command's from-tag party and answers the other leg's port (it goes
 * into the SDP for the other party); L, sent by the answerer's side with the caller's from-tag,
 * addresses the to-tag party. This is rtpproxy's "index is inverted for non-U commands" rule.
 */
import {
  type DeleteCommand,
  RtppErrorCode as E,
  type InfoCommand,
  isIpv4,
  isIpv6,
  type QueryCommand,
  RTPP_BASE_VERSION,
  type RtppCommand,
  type RtppReply,
  type StatsCommand,
  type UpdateCommand,
} from '@sipedge/rtpp';
import { type Clock, systemClock } from './clock.js';
import { type Logger, silentLogger } from './logger.js';
import {
  type Notifier,
  type NotifyAllowEntry,
  type NotifyDestination,
  parseNotifySpec,
  resolveNotifySocket,
} from './notify.js';
import { PortRange } from './ports.js';
import type { MediaSocket, MediaTransport } from './transport.js';

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
}

/** Where a command came from: the IP `%%CC_SELF%%` resolves to (absent for unix sockets). */
export interface CommandContext {
  readonly remoteAddress?: string;
}

/** VF dates this engine really implements (digest §3). 20081224 and 20150617 need `-n`. */
export const IMPLEMENTED_FEATURES: readonly string[] = Object.freeze([
  '20040107', // base protocol
  '20050322', // ;N media-number tags (P answers E60: no prompts to play)
  '20060704', // VF itself
  '20080403', // Q
  '20081102', // c codec list accepted (kept, not used to filter)
  '20141004', // G counters
  '20150330', // n: new port for an existing stream
]);
const NOTIFY_FEATURES: readonly string[] = Object.freeze(['20081224', '20150617']);

/** G counter names this engine keeps (a subset of digest §2.9); others answer E68. */
export const STAT_NAMES = [
  'nsess_created',
  'nsess_destroyed',
  'nsess_timeout',
  'nsess_complete',
  'nsess_nortp',
  'nsess_owrtp',
  'nsess_nortcp',
  'nsess_owrtcp',
  'npkts_rcvd',
  'npkts_relayed',
  'npkts_discard',
  'total_duration',
  'ncmds_rcvd',
  'ncmds_succd',
  'ncmds_errs',
] as const;
export type StatName = (typeof STAT_NAMES)[number];

/** Q counter names this engine answers; others answer E62. */
export const QUERY_NAMES = ['ttl', 'npkts_ina', 'npkts_ino', 'nrelayed', 'ndropped'] as const;

interface Endpoint {
  address: string;
  port: number;
}

/** RTP or RTCP of one leg. */
interface Stream {
  socket: MediaSocket | undefined;
  /** Where packets for this leg's party go: latched source, else the U/L address. */
  peer: Endpoint | undefined;
  /** The address given in U/L (RTCP: port + 1). */
  given: Endpoint | undefined;
  latched: boolean;
  /** Packets received on this leg. */
  received: number;
  /** Packets received here and sent on to the other party. */
  relayed: number;
  /** Packets received here and not sent on (no peer yet, on hold, wrong source, too big). */
  dropped: number;
}

interface Leg {
  port: number;
  family: 4 | 6;
  rtp: Stream;
  rtcp: Stream;
  asymmetric: boolean;
  onHold: boolean;
  weak: boolean;
  codecs: readonly number[] | undefined;
}

interface Session {
  readonly id: number;
  readonly callId: string;
  readonly fromTag: string;
  toTag: string | undefined;
  readonly legs: [Leg, Leg];
  strong: boolean;
  readonly created: number;
  lastActivity: number;
  /** Set by packets, folded into lastActivity by the once-a-second sweep (cheap hot path). */
  active: boolean;
  notify: { destination: NotifyDestination; tag: string } | undefined;
  destroyed: boolean;
}

/** A snapshot of one session, for logs, tests and the daemon. */
export interface SessionInfo {
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag: string | undefined;
  readonly legs: readonly {
    readonly port: number;
    readonly peer: string | undefined;
    readonly latched: boolean;
    readonly rtp: { readonly received: number; readonly relayed: number; readonly dropped: number };
    readonly rtcp: {
      readonly received: number;
      readonly relayed: number;
      readonly dropped: number;
    };
  }[];
}

function newStream(): Stream {
  return {
    socket: undefined,
    peer: undefined,
    given: undefined,
    latched: false,
    received: 0,
    relayed: 0,
    dropped: 0,
  };
}

function newLeg(family: 4 | 6): Leg {
  return {
    port: 0,
    family,
    rtp: newStream(),
    rtcp: newStream(),
    asymmetric: false,
    onHold: false,
    weak: false,
    codecs: undefined,
  };
}

/** rtpproxy's tag comparison: exact, or a plain tag against the part before `;`. */
function tagMatches(sessionTag: string, tag: string): boolean {
  if (sessionTag === tag) return true;
  if (tag.includes(';')) return false;
  const semi = sessionTag.indexOf(';');
  return (
    semi >= 0 && sessionTag.length > tag.length && semi === tag.length && sessionTag.startsWith(tag)
  );
}

const err = (code: number): RtppReply => ({ kind: 'error', code });
const value = (v: string): RtppReply => ({ kind: 'value', value: v });
const fmtAddr = (e: Endpoint | undefined): string | undefined =>
  e === undefined
    ? undefined
    : e.address.includes(':')
      ? `[${e.address}]:${e.port}`
      : `${e.address}:${e.port}`;

export class MediaEngine {
  readonly #transport: MediaTransport;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #ports: PortRange;
  readonly #ttlMs: number;
  readonly #ipv4: string | undefined;
  readonly #ipv6: string | undefined;
  readonly #adv4: string | undefined;
  readonly #adv6: string | undefined;
  readonly #notifyAllow: readonly NotifyAllowEntry[];
  readonly #notifier: Notifier | undefined;
  readonly #maxPending: number;
  readonly #maxPacket: number;
  readonly #sessions = new Map<string, Session[]>();
  #nextId = 1;
  #pending = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #stopTimer: (() => void) | undefined;
  #stopped = false;
  readonly #stats: Record<StatName, number> = Object.fromEntries(
    STAT_NAMES.map((n) => [n, 0]),
  ) as Record<StatName, number>;
  #packetsOut = 0;

  constructor(options: MediaEngineOptions) {
    if (options.ipv4 === undefined && options.ipv6 === undefined) {
      throw new Error('the media engine needs an IPv4 or IPv6 listen address');
    }
    this.#transport = options.transport;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
    this.#ports = new PortRange(options.portMin ?? 35000, options.portMax ?? 65000);
    const ttl = options.ttl ?? 60;
    if (!(ttl > 0)) throw new RangeError('ttl must be positive');
    this.#ttlMs = ttl * 1000;
    this.#ipv4 = options.ipv4;
    this.#ipv6 = options.ipv6;
    this.#adv4 = options.advertisedIpv4;
    this.#adv6 = options.advertisedIpv6;
    this.#notifyAllow = (options.notifySockets ?? []).map(parseNotifySpec);
    this.#notifier = options.notifier;
    this.#maxPending = options.maxPending ?? 1024;
    this.#maxPacket = options.maxPacket ?? 8192;
  }

  /** Starts the once-a-second TTL sweep. */
  start(): void {
    if (this.#stopTimer !== undefined || this.#stopped) return;
    this.#stopTimer = this.#clock.every(1000, () => this.sweep());
  }

  /** Stops the sweep and destroys every session (closing its sockets). Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopTimer?.();
    this.#stopTimer = undefined;
    await this.#queue.catch(() => {});
    for (const s of this.#all()) this.#destroy(s, 'shutdown');
    this.#notifier?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Number of live sessions (one per call-id/tag/media-number). */
  get sessionCount(): number {
    let n = 0;
    for (const list of this.#sessions.values()) n += list.length;
    return n;
  }

  /** A counter of digest §2.9 as G would answer it. */
  stat(name: StatName): number {
    return this.#stats[name];
  }

  sessions(): SessionInfo[] {
    return this.#all().map((s) => ({
      callId: s.callId,
      fromTag: s.fromTag,
      toTag: s.toTag,
      legs: s.legs.map((l) => ({
        port: l.port,
        peer: fmtAddr(l.rtp.peer),
        latched: l.rtp.latched,
        rtp: { received: l.rtp.received, relayed: l.rtp.relayed, dropped: l.rtp.dropped },
        rtcp: { received: l.rtcp.received, relayed: l.rtcp.relayed, dropped: l.rtcp.dropped },
      })),
    }));
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
        return this.#update(cmd, ctx);
      case 'D':
        return this.#delete(cmd);
      case 'Q':
        return this.#query(cmd);
      case 'I':
        return this.#info(cmd);
      case 'G':
        return this.#statsReply(cmd);
      case 'X':
        for (const s of this.#all()) this.#destroy(s, 'flushed');
        return value('0');
      case 'P':
        // no prompt player: rtpproxy's player-failure code once the session is found
        return this.#find(cmd.callId, cmd.fromTag, cmd.toTag) === undefined
          ? err(E.SESUNKN)
          : err(E.PLRFAIL);
      case 'S':
        return this.#find(cmd.callId, cmd.fromTag, cmd.toTag) === undefined
          ? err(E.SESUNKN)
          : value('0');
      case 'R':
      case 'N':
        // nothing is recorded, so there is nothing to start or stop (rtpproxy: E50)
        return err(E.SESUNKN);
      case 'C':
        return this.#find(cmd.callId, cmd.fromTag, cmd.toTag) === undefined
          ? err(E.SESUNKN)
          : err(E.CPYFAIL);
    }
  }

  /** What `VF <date>` answers. */
  supports(date: string): boolean {
    if (IMPLEMENTED_FEATURES.includes(date)) return true;
    return this.#notifyAllow.length > 0 && NOTIFY_FEATURES.includes(date);
  }

  // ---- sessions ----------------------------------------------------------------------------

  #all(): Session[] {
    const out: Session[] = [];
    for (const list of this.#sessions.values()) out.push(...list);
    return out;
  }

  /**
   * The session a command names and whether its from-tag is the session's from-tag side.
   * An exact match wins over a `;N`-less one, and a session whose to-tag also fits wins.
   */
  #find(
    callId: string,
    fromTag: string,
    toTag: string | undefined,
  ): { session: Session; fromSide: boolean } | undefined {
    const list = this.#sessions.get(callId);
    if (list === undefined) return undefined;
    let best: { session: Session; fromSide: boolean; score: number } | undefined;
    for (const s of list) {
      let fromSide: boolean;
      let other: string | undefined;
      if (tagMatches(s.fromTag, fromTag)) {
        fromSide = true;
        other = toTag;
      } else if (toTag !== undefined && tagMatches(s.fromTag, toTag)) {
        fromSide = false;
        other = fromTag;
      } else {
        continue;
      }
      let score = 0;
      if (s.fromTag === (fromSide ? fromTag : toTag)) score += 2;
      if (other !== undefined && s.toTag !== undefined && tagMatches(s.toTag, other)) score += 1;
      if (best === undefined || score > best.score) best = { session: s, fromSide, score };
    }
    return best === undefined ? undefined : { session: best.session, fromSide: best.fromSide };
  }

  /** Every session D/Q-style plain tags reach: from-tag equal to either tag. */
  #matchAll(callId: string, fromTag: string, toTag: string | undefined): Session[] {
    const list = this.#sessions.get(callId);
    if (list === undefined) return [];
    return list.filter(
      (s) =>
        tagMatches(s.fromTag, fromTag) || (toTag !== undefined && tagMatches(s.fromTag, toTag)),
    );
  }

  /** Parses remote_ip/remote_port the way rtpproxy does: implausible strings are ignored. */
  #remote(
    cmd: UpdateCommand,
    family: 4 | 6,
  ): { ok: true; endpoint: Endpoint | undefined; hold: boolean } | { ok: false } {
    const ip = cmd.remoteIp;
    const plausible =
      family === 4 ? ip.length >= 7 && ip.length <= 15 : ip.length >= 2 && ip.length <= 45;
    if (!plausible) return { ok: true, endpoint: undefined, hold: false };
    if (family === 4 ? !isIpv4(ip) : !isIpv6(ip)) return { ok: false };
    if (!/^\d{1,5}$/.test(cmd.remotePort)) return { ok: false };
    const port = Number(cmd.remotePort);
    if (port > 65535) return { ok: false };
    const hold = ip === '0.0.0.0' || /^[0:]+$/.test(ip);
    if (hold || port === 0) return { ok: true, endpoint: undefined, hold };
    return { ok: true, endpoint: { address: ip, port }, hold: false };
  }

  async #update(cmd: UpdateCommand, ctx: CommandContext): Promise<RtppReply> {
    const m = cmd.mods;
    if (m.unknown.length > 0) return err(E.INVLARG_5);
    if (m.bridge.length > 0) return err(m.bridge[0] === 'e' ? E.PARSE_11 : E.PARSE_12);
    const family: 4 | 6 = m.ipv6 ? 6 : 4;
    const local = family === 4 ? this.#ipv4 : this.#ipv6;
    if (local === undefined) return err(E.INVLARG_6);
    if (m.localLabel !== undefined) return err(E.INVLARG_1);
    if (m.localAddress !== undefined && m.localAddress !== local) return err(E.INVLARG_1);
    if (cmd.subcommands.length > 0) return err(E.PARSE_SUBC);
    const remote = this.#remote(cmd, family);
    if (!remote.ok) return err(E.INVLARG_7);

    let notify: Session['notify'];
    if (cmd.notify !== undefined) {
      if (this.#notifyAllow.length === 0) return err(E.NSOFF);
      const destination = resolveNotifySocket(
        this.#notifyAllow,
        cmd.notify.socket,
        ctx.remoteAddress,
      );
      if (destination === undefined) {
        this.#log.warn(
          { callId: cmd.callId, socket: cmd.notify.socket },
          'notify socket not in the -n list, ignored',
        );
      } else {
        notify = { destination, tag: cmd.notify.tag };
      }
    }

    const found = this.#find(cmd.callId, cmd.fromTag, cmd.toTag);
    if (found === undefined) {
      if (cmd.kind === 'L') return { kind: 'port', port: 0, ipv6: false, subResults: [] };
      return this.#create(cmd, family, remote.endpoint, remote.hold, notify);
    }
    const { session, fromSide } = found;
    const party = (cmd.kind === 'U') === fromSide ? 0 : 1;
    const leg = session.legs[party];
    const replyLeg = session.legs[1 - party]!;
    if (fromSide && session.toTag === undefined && cmd.toTag !== undefined)
      session.toTag = cmd.toTag;

    if (m.newPort) {
      const ok = await this.#rebind(session, replyLeg);
      if (!ok) return err(E.LSTFAIL_1);
    }
    this.#setParty(leg, m.asymmetric, remote.endpoint, remote.hold, m.codecs);
    if (m.weak) leg.weak = true;
    else session.strong = true;
    if (cmd.kind === 'U') session.notify = notify; // a U without notify args removes the target
    session.lastActivity = this.#clock.now();
    this.#log.debug(
      { callId: session.callId, fromTag: session.fromTag, cmd: cmd.kind, port: replyLeg.port },
      'session updated',
    );
    return this.#portReply(replyLeg);
  }

  async #create(
    cmd: UpdateCommand,
    family: 4 | 6,
    endpoint: Endpoint | undefined,
    hold: boolean,
    notify: Session['notify'],
  ): Promise<RtppReply> {
    const now = this.#clock.now();
    const session: Session = {
      id: this.#nextId++,
      callId: cmd.callId,
      fromTag: cmd.fromTag,
      toTag: cmd.toTag,
      legs: [newLeg(family), newLeg(family)],
      strong: !cmd.mods.weak,
      created: now,
      lastActivity: now,
      active: false,
      notify,
      destroyed: false,
    };
    for (const leg of session.legs) {
      if (!(await this.#rebind(session, leg))) {
        this.#closeLegs(session);
        this.#log.warn(
          { callId: cmd.callId, inUse: this.#ports.inUse },
          'no free port pair for a new session',
        );
        return err(E.LSTFAIL_2);
      }
    }
    if (cmd.mods.weak) session.legs[0].weak = true;
    this.#setParty(session.legs[0], cmd.mods.asymmetric, endpoint, hold, cmd.mods.codecs);
    let list = this.#sessions.get(cmd.callId);
    if (list === undefined) {
      list = [];
      this.#sessions.set(cmd.callId, list);
    }
    list.push(session);
    this.#stats.nsess_created++;
    this.#log.info(
      {
        event: 'created',
        callId: session.callId,
        fromTag: session.fromTag,
        toTag: session.toTag,
        ports: [session.legs[0].port, session.legs[1].port],
        notify: notify === undefined ? undefined : notify.tag,
      },
      'session created',
    );
    return this.#portReply(session.legs[1]);
  }

  #setParty(
    leg: Leg,
    asymmetric: boolean,
    endpoint: Endpoint | undefined,
    hold: boolean,
    codecs: readonly number[] | undefined,
  ): void {
    leg.asymmetric = asymmetric;
    leg.onHold = hold;
    if (codecs !== undefined) leg.codecs = codecs;
    if (hold) return;
    if (endpoint === undefined) return;
    const rtcp = {
      address: endpoint.address,
      port: endpoint.port === 65535 ? 65535 : endpoint.port + 1,
    };
    const changed =
      leg.rtp.given?.address !== endpoint.address || leg.rtp.given?.port !== endpoint.port;
    leg.rtp.given = endpoint;
    leg.rtcp.given = rtcp;
    if (asymmetric || changed || !leg.rtp.latched) {
      // a new address (re-INVITE) or asymmetric mode: send there and latch again from scratch
      leg.rtp.peer = endpoint;
      leg.rtp.latched = false;
    }
    if (asymmetric || changed || !leg.rtcp.latched) {
      leg.rtcp.peer = rtcp;
      leg.rtcp.latched = false;
    }
  }

  /** Binds a fresh RTP/RTCP pair for `leg`, releasing the old one once the new one is up. */
  async #rebind(session: Session, leg: Leg): Promise<boolean> {
    const address = leg.family === 4 ? this.#ipv4! : this.#ipv6!;
    const legIndex = session.legs.indexOf(leg) as 0 | 1;
    const got = await this.#ports.allocate(async (port) => {
      let rtp: MediaSocket | undefined;
      try {
        rtp = await this.#transport.bind(address, port, (data, p, a) =>
          this.#onPacket(session, legIndex, false, data, p, a),
        );
        const rtcp = await this.#transport.bind(address, port + 1, (data, p, a) =>
          this.#onPacket(session, legIndex, true, data, p, a),
        );
        return { rtp, rtcp };
      } catch {
        rtp?.close();
        return undefined;
      }
    });
    if (got === undefined) return false;
    const old = leg.port;
    leg.rtp.socket?.close();
    leg.rtcp.socket?.close();
    if (leg.port !== 0) this.#ports.release(old);
    leg.port = got.port;
    leg.rtp.socket = got.value.rtp;
    leg.rtcp.socket = got.value.rtcp;
    return true;
  }

  #portReply(leg: Leg): RtppReply {
    const bound = leg.family === 4 ? this.#ipv4! : this.#ipv6!;
    const adv = (leg.family === 4 ? this.#adv4 : this.#adv6) ?? bound;
    const wildcard = adv === '0.0.0.0' || adv === '::';
    if (wildcard) return { kind: 'port', port: leg.port, ipv6: false, subResults: [] };
    return { kind: 'port', port: leg.port, address: adv, ipv6: leg.family === 6, subResults: [] };
  }

  // ---- media hot path ----------------------------------------------------------------------

  #onPacket(
    session: Session,
    legIndex: 0 | 1,
    rtcp: boolean,
    data: Buffer,
    port: number,
    address: string,
  ): void {
    if (session.destroyed) return;
    const leg = session.legs[legIndex];
    const inStream = rtcp ? leg.rtcp : leg.rtp;
    inStream.received++;
    this.#stats.npkts_rcvd++;
    session.active = true;
    if (data.length > this.#maxPacket) {
      inStream.dropped++;
      this.#stats.npkts_discard++;
      return;
    }
    if (!leg.asymmetric) {
      const peer = inStream.peer;
      if (!inStream.latched) {
        if (peer === undefined || peer.address !== address || peer.port !== port) {
          inStream.peer = { address, port };
        }
        inStream.latched = true;
        this.#log.info(
          {
            event: 'latched',
            callId: session.callId,
            fromTag: session.fromTag,
            leg: legIndex,
            stream: rtcp ? 'rtcp' : 'rtp',
            peer: fmtAddr(inStream.peer),
          },
          'session latched',
        );
      } else if (peer !== undefined && (peer.address !== address || peer.port !== port)) {
        // after latching only the latched source is relayed
        inStream.dropped++;
        this.#stats.npkts_discard++;
        return;
      }
    }
    const other = session.legs[legIndex === 0 ? 1 : 0];
    const outStream = rtcp ? other.rtcp : other.rtp;
    const dest = outStream.peer;
    if (dest === undefined || other.onHold || outStream.socket === undefined) {
      inStream.dropped++;
      this.#stats.npkts_discard++;
      return;
    }
    outStream.socket.send(data, dest.port, dest.address);
    inStream.relayed++;
    this.#stats.npkts_relayed++;
    this.#packetsOut++;
  }

  // ---- D, Q, I, G ------------------------------------------------------------------------

  #delete(cmd: DeleteCommand): RtppReply {
    const hit = this.#matchAll(cmd.callId, cmd.fromTag, cmd.toTag);
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

  #ttlLeft(s: Session): number {
    const last = s.active ? this.#clock.now() : s.lastActivity;
    return Math.max(0, Math.ceil((this.#ttlMs - (this.#clock.now() - last)) / 1000));
  }

  #query(cmd: QueryCommand): RtppReply {
    if (cmd.subcommands.length > 0) return err(E.PARSE_SUBC);
    const found = this.#find(cmd.callId, cmd.fromTag, cmd.toTag);
    if (found === undefined) return err(E.SESUNKN);
    const { session, fromSide } = found;
    const a = session.legs[fromSide ? 0 : 1];
    const o = session.legs[fromSide ? 1 : 0];
    const all: Record<(typeof QUERY_NAMES)[number], string> = {
      ttl: String(this.#ttlLeft(session)),
      npkts_ina: String(a.rtp.received),
      npkts_ino: String(o.rtp.received),
      nrelayed: String(a.rtp.relayed + o.rtp.relayed),
      ndropped: String(a.rtp.dropped + o.rtp.dropped),
    };
    const names = cmd.counters.length > 0 ? cmd.counters : QUERY_NAMES;
    const values: string[] = [];
    for (const n of names) {
      const v = (all as Record<string, string>)[n];
      if (v === undefined || !Object.hasOwn(all, n)) return err(E.QRYFAIL);
      values.push(v);
    }
    return { kind: 'list', values, ...(cmd.verbose ? { names: [...names] } : {}), subResults: [] };
  }

  #info(cmd: InfoCommand): RtppReply {
    const sessions = this.sessionCount;
    const entries: [string, string][] = [
      ['sessions created', String(this.#stats.nsess_created)],
      ['active sessions', String(sessions)],
      ['active streams', String(sessions * 2)],
      ['packets received', String(this.#stats.npkts_rcvd)],
      ['packets transmitted', String(this.#packetsOut)],
    ];
    if (cmd.load) entries.push(['average load', '0.000000']);
    return { kind: 'info', entries };
  }

  #statsReply(cmd: StatsCommand): RtppReply {
    const values: string[] = [];
    for (const n of cmd.names) {
      if (!(STAT_NAMES as readonly string[]).includes(n)) return err(E.STSFAIL);
      const v = this.#stats[n as StatName];
      values.push(n === 'total_duration' ? v.toFixed(6) : String(v));
    }
    if (values.join(' ').length > 1000) return err(E.RTOOBIG_1);
    return {
      kind: 'list',
      values,
      ...(cmd.verbose ? { names: [...cmd.names] } : {}),
      subResults: [],
    };
  }

  // ---- timeouts and teardown ---------------------------------------------------------------

  /** Folds traffic into the TTLs and destroys idle sessions; called every second by the clock. */
  sweep(): void {
    const now = this.#clock.now();
    for (const s of this.#all()) {
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

  #closeLegs(s: Session): void {
    for (const leg of s.legs) {
      leg.rtp.socket?.close();
      leg.rtcp.socket?.close();
      leg.rtp.socket = undefined;
      leg.rtcp.socket = undefined;
      if (leg.port !== 0) this.#ports.release(leg.port);
      leg.port = 0;
    }
  }

  #destroy(s: Session, why: 'deleted' | 'timed out' | 'flushed' | 'shutdown'): void {
    if (s.destroyed) return;
    s.destroyed = true;
    const ports = [s.legs[0].port, s.legs[1].port];
    this.#closeLegs(s);
    const list = this.#sessions.get(s.callId);
    if (list !== undefined) {
      const i = list.indexOf(s);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.#sessions.delete(s.callId);
    }
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
