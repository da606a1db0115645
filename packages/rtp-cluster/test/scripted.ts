/**
 * Test doubles for the balancer: a scripted rtpproxy member with a real session model, for this
 * package's own tests (not shipped; other packages' tests use a real `@sipedge/rtp-relay`);
 * virtual time is core's `VirtualClock`.
 */
import {
  parseCommand,
  type RtppCommand,
  RtppProtocolError,
  type RtppReply,
  RtppTimeoutError,
  serializeReply,
} from '@sipedge/rtpp';
import type { MemberConfig } from '../src/config/schema.js';
import type { MemberLink } from '../src/member.js';

export { flush } from '@sipedge/core/testing';

export interface ScriptedMemberOptions {
  /** VF dates answered 1 (20040107 always is). */
  capabilities?: readonly string[];
  /** Answer I with E8, as rtpengine does. */
  noInfo?: boolean;
  /** Local address put in U/L replies. */
  address?: string;
  ipv6?: boolean;
}

interface Session {
  callId: string;
  fromTag: string;
  toTag?: string;
  port: number;
}

/** An rtpproxy in memory: U creates, L looks up, D deletes (plain tags hit `;N`), Q, G, I, X. */
export class ScriptedMember implements MemberLink {
  readonly received: RtppCommand[] = [];
  readonly sessions: Session[] = [];
  /** When set, every command fails this way (a dead or broken member). */
  failure: 'timeout' | 'garbage' | undefined;
  /** Override a reply for a command (return undefined to fall through). */
  override: ((cmd: RtppCommand) => RtppReply | undefined) | undefined;
  closed = false;
  #nextPort = 35000;
  #created = 0;
  readonly #caps: Set<string>;

  constructor(
    readonly name: string,
    readonly options: ScriptedMemberOptions = {},
  ) {
    this.#caps = new Set([
      '20040107',
      ...(options.capabilities ?? ['20050322', '20080403', '20141004', '20150617']),
    ]);
  }

  commandsOf(kind: RtppCommand['kind']): RtppCommand[] {
    return this.received.filter((c) => c.kind === kind);
  }

  async send(cmd: RtppCommand): Promise<RtppReply> {
    this.received.push(cmd);
    await Promise.resolve();
    if (this.failure === 'timeout') throw this.#timeout();
    if (this.failure === 'garbage')
      throw new RtppProtocolError(`${this.name}: garbage reply (scripted)`);
    const o = this.override?.(cmd);
    if (o !== undefined) return o;
    return this.#answer(cmd);
  }

  /** Command texts received through `sendRaw` (the balancer's fast path), in order. */
  readonly texts: string[] = [];
  /** When set, `sendRaw` answers this body instead (a member's unusual or garbage reply). */
  textOverride: ((text: string) => string | undefined) | undefined;

  /** The text side of the link (RtppClient.sendRaw): parses, answers as `send`, serialises. */
  async sendRaw(text: string): Promise<string> {
    this.texts.push(text);
    const parsed = parseCommand(text);
    if (!parsed.ok) {
      await Promise.resolve();
      return `E${parsed.error.code}`;
    }
    const forced = this.textOverride?.(text);
    if (forced !== undefined) {
      this.received.push(parsed.command);
      await Promise.resolve();
      if (this.failure === 'timeout') throw this.#timeout();
      return forced;
    }
    const reply = await this.send(parsed.command);
    return serializeReply(reply).slice(0, -1);
  }

  close(): void {
    this.closed = true;
  }

  #timeout(): RtppTimeoutError {
    return new RtppTimeoutError(`${this.name}: no reply (scripted)`, 1);
  }

  #port(): RtppReply {
    const port = this.#nextPort;
    this.#nextPort += 2;
    const address = this.options.address ?? '127.0.0.1';
    return { kind: 'port', port, address, ipv6: this.options.ipv6 === true, subResults: [] };
  }

  #matches(s: Session, callId: string, from: string, to?: string): boolean {
    const base = (t: string) => t.split(';')[0];
    if (s.callId !== callId) return false;
    const tags = [base(s.fromTag), s.toTag === undefined ? undefined : base(s.toTag)];
    return tags.includes(base(from)) || (to !== undefined && tags.includes(base(to)));
  }

  #answer(cmd: RtppCommand): RtppReply {
    switch (cmd.kind) {
      case 'V':
        return { kind: 'value', value: '20040107' };
      case 'VF':
        return { kind: 'value', value: this.#caps.has(cmd.date) ? '1' : '0' };
      case 'I':
        if (this.options.noInfo === true) return { kind: 'error', code: 8 };
        return {
          kind: 'info',
          entries: [
            ['sessions created', String(this.#created)],
            ['active sessions', String(this.sessions.length)],
            ['active streams', String(this.sessions.length * 2)],
            ['packets received', '0'],
            ['packets transmitted', '0'],
          ],
        };
      case 'U': {
        const existing = this.sessions.find(
          (s) => s.callId === cmd.callId && (s.fromTag === cmd.fromTag || s.toTag === cmd.fromTag),
        );
        if (existing !== undefined) return this.#port();
        this.#created++;
        const reply = this.#port() as { port: number };
        const s: Session = { callId: cmd.callId, fromTag: cmd.fromTag, port: reply.port };
        if (cmd.toTag !== undefined) s.toTag = cmd.toTag;
        this.sessions.push(s);
        return reply as RtppReply;
      }
      case 'L': {
        const s = this.sessions.find(
          (x) => x.callId === cmd.callId && (x.fromTag === cmd.fromTag || x.fromTag === cmd.toTag),
        );
        if (s === undefined) return { kind: 'port', port: 0, ipv6: false, subResults: [] };
        if (cmd.toTag !== undefined && s.fromTag === cmd.fromTag) s.toTag = cmd.toTag;
        return this.#port();
      }
      case 'D': {
        const before = this.sessions.length;
        for (let i = this.sessions.length - 1; i >= 0; i--) {
          if (this.#matches(this.sessions[i]!, cmd.callId, cmd.fromTag, cmd.toTag))
            this.sessions.splice(i, 1);
        }
        return this.sessions.length < before
          ? { kind: 'value', value: '0' }
          : { kind: 'error', code: 50 };
      }
      case 'Q': {
        const s = this.sessions.find((x) => this.#matches(x, cmd.callId, cmd.fromTag, cmd.toTag));
        if (s === undefined) return { kind: 'error', code: 50 };
        return { kind: 'list', values: ['60', '1', '2', '3', '0'], subResults: [] };
      }
      case 'G':
        return {
          kind: 'list',
          values: cmd.names.map((n) =>
            n === 'total_duration' ? '1.500000' : String(this.#created),
          ),
          subResults: [],
        };
      case 'X':
        this.sessions.length = 0;
        return { kind: 'value', value: '0' };
      default:
        return { kind: 'value', value: '0' };
    }
  }
}

/** A member configuration for tests. */
export function memberConfig(name: string, extra: Partial<MemberConfig> = {}): MemberConfig {
  return {
    name,
    protocol: 'udp',
    address: '127.0.0.1:22222',
    weight: 1,
    capacity: 1000,
    status: 'ACTIVE',
    ...extra,
  };
}
