/**
 * U and L: create a session or update one, and answer the port the other party sends to.
 *
 * U addresses the leg of the command's from-tag party and answers the other leg's port (it goes
 * into the SDP for the other party); L, sent by the answerer's side with the caller's from-tag,
 * addresses the to-tag party. This is rtpproxy's "index is inverted for non-U commands" rule.
 */

import { type Clock, type Logger, sourceOf } from '@sipedge/core';
import {
  RtppErrorCode as E,
  isIpv4,
  isIpv6,
  type RtppReply,
  type UpdateCommand,
} from '@sipedge/rtpp';
import { type NotifyAllowEntry, resolveNotifySocket } from '../notify/notify.js';
import type { EngineStats } from './capabilities.js';
import type { LegSockets } from './legs.js';
import { type Endpoint, type Leg, newLeg, type Session, type SessionNotify } from './session.js';
import type { SessionTable } from './session-table.js';
import type { SourceSessions } from './sources.js';

/** Where a command came from: the IP `%%CC_SELF%%` resolves to (absent for unix sockets). */
export interface CommandContext {
  readonly remoteAddress?: string;
}

export interface UpdateLookupOptions {
  readonly sessions: SessionTable;
  readonly legs: LegSockets;
  readonly stats: EngineStats;
  readonly clock: Clock;
  readonly log: Logger;
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
  readonly advertisedIpv4: string | undefined;
  readonly advertisedIpv6: string | undefined;
  /** The `-n` allow-list; empty: notify arguments answer E75. */
  readonly notifyAllow: readonly NotifyAllowEntry[];
  readonly sources: SourceSessions;
}

const err = (code: number): RtppReply => ({ kind: 'error', code });

/** Parses remote_ip/remote_port the way rtpproxy does: implausible strings are ignored. */
function parseRemote(
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

/** Where a leg's party is (the U/L address), and whether to latch again from scratch. */
function setParty(
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

export class UpdateLookup {
  readonly #sessions: SessionTable;
  readonly #legs: LegSockets;
  readonly #stats: EngineStats;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #ipv4: string | undefined;
  readonly #ipv6: string | undefined;
  readonly #adv4: string | undefined;
  readonly #adv6: string | undefined;
  readonly #notifyAllow: readonly NotifyAllowEntry[];
  readonly #sources: SourceSessions;

  constructor(options: UpdateLookupOptions) {
    this.#sessions = options.sessions;
    this.#legs = options.legs;
    this.#stats = options.stats;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#ipv4 = options.ipv4;
    this.#ipv6 = options.ipv6;
    this.#adv4 = options.advertisedIpv4;
    this.#adv6 = options.advertisedIpv6;
    this.#notifyAllow = options.notifyAllow;
    this.#sources = options.sources;
  }

  async execute(cmd: UpdateCommand, ctx: CommandContext): Promise<RtppReply> {
    const m = cmd.mods;
    if (m.unknown.length > 0) return err(E.INVLARG_5);
    if (m.bridge.length > 0) return err(m.bridge[0] === 'e' ? E.PARSE_11 : E.PARSE_12);
    const family: 4 | 6 = m.ipv6 ? 6 : 4;
    const local = family === 4 ? this.#ipv4 : this.#ipv6;
    if (local === undefined) return err(E.INVLARG_6);
    if (m.localLabel !== undefined) return err(E.INVLARG_1);
    if (m.localAddress !== undefined && m.localAddress !== local) return err(E.INVLARG_1);
    if (cmd.subcommands.length > 0) return err(E.PARSE_SUBC);
    const remote = parseRemote(cmd, family);
    if (!remote.ok) return err(E.INVLARG_7);

    let notify: SessionNotify | undefined;
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

    const found = this.#sessions.find(cmd.callId, cmd.fromTag, cmd.toTag);
    if (found === undefined) {
      if (cmd.kind === 'L') return { kind: 'port', port: 0, ipv6: false, subResults: [] };
      const source = sourceOf(ctx.remoteAddress);
      if (!this.#sources.mayCreate(source)) {
        this.#stats.nsess_source_limited++;
        return err(E.LSTFAIL_2);
      }
      return this.#create(cmd, family, remote.endpoint, remote.hold, notify, source);
    }
    const { session, fromSide } = found;
    const party = (cmd.kind === 'U') === fromSide ? 0 : 1;
    const leg = session.legs[party];
    const replyLeg = session.legs[1 - party]!;
    if (fromSide && session.toTag === undefined && cmd.toTag !== undefined)
      session.toTag = cmd.toTag;

    if (m.newPort) {
      const ok = await this.#legs.bind(session, replyLeg);
      if (!ok) return err(E.LSTFAIL_1);
    }
    setParty(leg, m.asymmetric, remote.endpoint, remote.hold, m.codecs);
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
    notify: SessionNotify | undefined,
    source: string,
  ): Promise<RtppReply> {
    const now = this.#clock.now();
    const session: Session = {
      id: this.#sessions.newId(),
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
      source,
    };
    for (const leg of session.legs) {
      if (!(await this.#legs.bind(session, leg))) {
        this.#legs.close(session);
        this.#log.warn(
          { callId: cmd.callId, inUse: this.#legs.portsInUse },
          'no free port pair for a new session',
        );
        return err(E.LSTFAIL_2);
      }
    }
    if (cmd.mods.weak) session.legs[0].weak = true;
    setParty(session.legs[0], cmd.mods.asymmetric, endpoint, hold, cmd.mods.codecs);
    this.#sessions.add(session);
    this.#sources.added(source);
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

  #portReply(leg: Leg): RtppReply {
    const bound = leg.family === 4 ? this.#ipv4! : this.#ipv6!;
    const adv = (leg.family === 4 ? this.#adv4 : this.#adv6) ?? bound;
    const wildcard = adv === '0.0.0.0' || adv === '::';
    if (wildcard) return { kind: 'port', port: leg.port, ipv6: false, subResults: [] };
    return { kind: 'port', port: leg.port, address: adv, ipv6: leg.family === 6, subResults: [] };
  }
}
