/**
 * One backend of a cluster: an rtpproxy, rtpengine or sipedge-rtp-relay reached over an
 * `@sipedge/rtpp` client. A member is probed (V, then every VF date) when it starts and every
 * time it comes back, is heartbeated with `Ib` (rtpengine answers I with an error: then `V` is
 * the heartbeat and the load comes from the balancer's own call table), goes offline only after
 * `failuresBeforeOffline` consecutive failures, and is re-probed with a bounded backoff.
 */
import type { Clock } from '@sipedge/core';
import { parseReply, type RtppCommand, RtppProtocolError, type RtppReply } from '@sipedge/rtpp';
import type { MemberConfig } from './config/schema.js';
import { classifyReply, type PlainKind, REPLY_ERROR, REPLY_OTHER } from './fast-path.js';

/** What a member needs from an rtpproxy client; `RtppClient` satisfies it. */
export interface MemberLink {
  send(command: RtppCommand): Promise<RtppReply>;
  /**
   * Sends command text and returns the reply body without its newline (`RtppClient.sendRaw`).
   * Optional: a link without it gets every command through `send`.
   */
  sendRaw?(text: string): Promise<string>;
  /**
   * `sendRaw` with a callback, called once and never synchronously
   * (`RtppClient.sendRawCallback`). Optional: without it the balancer adapts `sendRaw`.
   */
  sendRawCallback?(text: string, done: (error: Error | undefined, body?: string) => void): void;
  close(): Promise<void> | void;
}

/** How a member answers a command sent as text: the reply body, or why there is none. */
export type MemberTextCallback = (error: unknown, body: string) => void;

export type MemberLinkFactory = (config: MemberConfig) => MemberLink;

/**
 * VF dates a balancer probes: the sippy table of docs/protocols/rtpproxy.md §3 plus OpenSIPS's
 * 20170313.
 */
export const PROBED_CAPABILITIES = [
  '20040107',
  '20050322',
  '20060704',
  '20071116',
  '20071218',
  '20080403',
  '20081102',
  '20081224',
  '20090810',
  '20140323',
  '20140617',
  '20141004',
  '20150330',
  '20150420',
  '20150617',
  '20170313',
  '20191015',
  '20200226',
  '20230205',
  '20230314',
  '20230424',
  '20250523',
  '20251015',
  '20260306',
  '20260308',
  '20260309',
] as const;

export const BASE_VERSION = '20040107';

export type MemberState = 'probing' | 'online' | 'offline';
export type MemberStatus = 'ACTIVE' | 'SUSPENDED' | 'DRAINING';

export interface MemberOptions {
  readonly heartbeatIntervalMs: number;
  readonly failuresBeforeOffline: number;
  readonly reprobeInitialMs: number;
  readonly reprobeMaxMs: number;
}

export const defaultMemberOptions: MemberOptions = {
  heartbeatIntervalMs: 1000,
  failuresBeforeOffline: 3,
  reprobeInitialMs: 1000,
  reprobeMaxMs: 30_000,
};

/** What the heartbeat reports (docs/protocols/rtpproxy.md §2.9, the `I` lines). */
export interface HeartbeatInfo {
  sessionsCreated: number;
  activeSessions: number;
  activeStreams: number;
  packetsReceived: number;
  packetsTransmitted: number;
}

export interface MemberCounters {
  commands: number;
  errors: number;
  timeouts: number;
  garbage: number;
  /** Sessions created through this member (new-call U that succeeded). */
  sessions: number;
}

export interface MemberEvents {
  onStateChange(member: Member, from: MemberState, to: MemberState): void;
  /** After every successful heartbeat (the load figures are fresh). */
  onHeartbeat(member: Member): void;
}

const INFO_KEYS: Record<string, keyof HeartbeatInfo> = {
  'sessions created': 'sessionsCreated',
  'active sessions': 'activeSessions',
  'active streams': 'activeStreams',
  'packets received': 'packetsReceived',
  'packets transmitted': 'packetsTransmitted',
};

export class Member {
  readonly name: string;
  config: MemberConfig;
  status: MemberStatus;
  #state: MemberState = 'probing';
  #link: MemberLink;
  readonly #connect: MemberLinkFactory;
  readonly #timers: Clock;
  readonly #options: MemberOptions;
  readonly #events: MemberEvents;
  #capabilities = new Map<string, boolean>();
  #heartbeat: HeartbeatInfo | undefined;
  /** Smoothed active sessions (docs/protocols/rtpproxy.md §5.4: new = 0.5·sample + 0.5·old). */
  #smoothedSessions = 0;
  /** Heartbeats come from `Ib` unless the member refuses I (rtpengine), then from `V`. */
  #infoHeartbeat = true;
  #consecutiveFailures = 0;
  #reprobeDelay: number;
  #timer: unknown;
  #stopped = false;
  #probing = false;
  /** Smoothed round-trip time of successful commands, ms. */
  #rttMs = 0;
  readonly counters: MemberCounters = {
    commands: 0,
    errors: 0,
    timeouts: 0,
    garbage: 0,
    sessions: 0,
  };
  /** Returns the live calls the balancer holds for this member (for load when I is absent). */
  liveCalls: () => number = () => 0;

  constructor(
    config: MemberConfig,
    connect: MemberLinkFactory,
    timers: Clock,
    options: MemberOptions,
    events: MemberEvents,
  ) {
    this.name = config.name;
    this.config = config;
    this.status = config.status;
    this.#connect = connect;
    this.#link = connect(config);
    this.#timers = timers;
    this.#options = options;
    this.#events = events;
    this.#reprobeDelay = options.reprobeInitialMs;
  }

  get weight(): number {
    return this.config.weight;
  }
  get capacity(): number {
    return this.config.capacity;
  }
  get state(): MemberState {
    return this.#state;
  }
  get online(): boolean {
    return this.#state === 'online';
  }
  get capabilities(): ReadonlyMap<string, boolean> {
    return this.#capabilities;
  }
  get heartbeat(): HeartbeatInfo | undefined {
    return this.#heartbeat;
  }
  get rttMs(): number {
    return this.#rttMs;
  }
  /**
   * The load the selection strategy sees: the smoothed heartbeat figure, but never less than the
   * calls the balancer itself has bound since (heartbeats lag a burst of new calls).
   */
  get activeSessions(): number {
    const own = this.liveCalls();
    return this.#infoHeartbeat && this.#heartbeat !== undefined
      ? Math.max(this.#smoothedSessions, own)
      : own;
  }
  /** Exact active sessions when the member reports them, else undefined (shown as UNKNOWN). */
  get reportedSessions(): number | undefined {
    return this.#infoHeartbeat ? this.#heartbeat?.activeSessions : undefined;
  }

  start(): void {
    this.#stopped = false;
    void this.#probe();
  }

  /** Replaces the member's address or parameters (config reload): reconnects and re-probes. */
  async reconfigure(config: MemberConfig): Promise<void> {
    const addressChanged =
      config.protocol !== this.config.protocol ||
      config.address !== this.config.address ||
      config.cmd_out_address !== this.config.cmd_out_address;
    this.config = config;
    if (this.status !== 'DRAINING') this.status = config.status;
    if (!addressChanged) return;
    const old = this.#link;
    this.#link = this.#connect(config);
    await old.close();
    this.#cancelTimer();
    this.#setState('probing');
    void this.#probe();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer();
    await this.#link.close();
  }

  /**
   * Sends a command; a timeout or a garbage reply counts as a failure (and enough of them in a
   * row take the member offline), an `E` reply is an answer like any other.
   */
  send(command: RtppCommand): Promise<RtppReply> {
    this.counters.commands++;
    const started = this.#timers.now();
    let sent: Promise<RtppReply>;
    try {
      sent = this.#link.send(command);
    } catch (err) {
      this.#failed(err);
      return Promise.reject(err);
    }
    // one reaction, no async frame: this is on every forwarded command's path
    return sent.then(
      (reply) => {
        this.#succeeded(this.#timers.now() - started);
        if (reply.kind === 'error') this.counters.errors++;
        return reply;
      },
      (err: unknown) => {
        this.#failed(err);
        throw err;
      },
    );
  }

  /**
   * Whether the balancer may send this member plain commands as text and pass its replies back
   * as text: its link can, and no address of the member needs rewriting in either direction.
   */
  get plainText(): boolean {
    return (
      this.#link.sendRaw !== undefined &&
      this.config.lan_address === undefined &&
      this.config.wan_address === undefined
    );
  }

  /**
   * `send` for a plain U, L or D as text (see plainText): resolves to the reply body. Counted
   * exactly as `send` counts; a reply that does not parse as an answer to `kind` is garbage
   * (RtppProtocolError, a failure) as it is for `send`.
   */
  sendRaw(text: string, kind: PlainKind): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.sendText(text, kind, (err, body) => {
        if (err === undefined) resolve(body);
        else reject(err);
      });
    });
  }

  /**
   * `sendRaw` with a callback (the balancer's fast path: no promise per command when the link
   * has `sendRawCallback`). `done` gets `(undefined, body)` or `(error, '')`, once, never
   * synchronously.
   */
  sendText(text: string, kind: PlainKind, done: MemberTextCallback): void {
    this.counters.commands++;
    const started = this.#timers.now();
    const answered = (err: Error | undefined, body?: string): void => {
      if (err !== undefined) {
        this.#failed(err);
        done(err, '');
        return;
      }
      const reply = body ?? '';
      const cls = classifyReply(reply, kind);
      if (cls === REPLY_OTHER) {
        try {
          if (parseReply(reply, kind).kind === 'error') this.counters.errors++;
        } catch (e) {
          const bad =
            e instanceof RtppProtocolError
              ? e
              : new RtppProtocolError(`bad reply: ${(e as Error).message}`, { cause: e });
          this.#failed(bad);
          done(bad, '');
          return;
        }
      } else if (cls === REPLY_ERROR) {
        this.counters.errors++;
      }
      this.#succeeded(this.#timers.now() - started);
      done(undefined, reply);
    };
    const link = this.#link;
    try {
      if (link.sendRawCallback !== undefined) link.sendRawCallback(text, answered);
      else
        link.sendRaw!(text).then(
          (body) => answered(undefined, body),
          (err: unknown) => answered(err as Error),
        );
    } catch (err) {
      queueMicrotask(() => answered(err as Error));
    }
  }

  #succeeded(rtt: number): void {
    this.#rttMs = this.#rttMs === 0 ? rtt : this.#rttMs * 0.9 + rtt * 0.1;
    this.#consecutiveFailures = 0;
  }

  #failed(err: unknown): void {
    const code = (err as { code?: unknown }).code;
    if (code === 'RTPP_TIMEOUT') this.counters.timeouts++;
    else if (code === 'RTPP_PROTOCOL') this.counters.garbage++;
    this.#consecutiveFailures++;
    if (
      this.#state === 'online' &&
      this.#consecutiveFailures >= this.#options.failuresBeforeOffline
    )
      this.#goOffline();
  }

  async #probe(): Promise<void> {
    if (this.#stopped || this.#probing) return;
    this.#probing = true;
    try {
      const version = await this.#link.send({ kind: 'V', modifiers: '' });
      if (version.kind !== 'value' || version.value !== BASE_VERSION) {
        throw new Error(`V answered ${JSON.stringify(version)}, not ${BASE_VERSION}`);
      }
      const caps = new Map<string, boolean>();
      const answers = await Promise.all(
        PROBED_CAPABILITIES.map((date) =>
          this.#link.send({ kind: 'VF', modifiers: '', date }).then(
            (r) => r.kind === 'value' && r.value === '1',
            () => false,
          ),
        ),
      );
      PROBED_CAPABILITIES.forEach((date, i) => {
        caps.set(date, answers[i] === true);
      });
      this.#capabilities = caps;
      this.#consecutiveFailures = 0;
      this.#reprobeDelay = this.#options.reprobeInitialMs;
      this.#infoHeartbeat = true;
      await this.#beat();
      if (this.#stopped) return;
      this.#setState('online');
      this.#schedule(this.#options.heartbeatIntervalMs, () => this.#heartbeatTick());
    } catch {
      if (this.#stopped) return;
      this.#setState('offline');
      this.#scheduleReprobe();
    } finally {
      this.#probing = false;
    }
  }

  async #beat(): Promise<void> {
    if (this.#infoHeartbeat) {
      const reply = await this.#link.send({ kind: 'I', modifiers: 'b', brief: true, load: false });
      if (reply.kind === 'info') {
        const info: HeartbeatInfo = {
          sessionsCreated: 0,
          activeSessions: 0,
          activeStreams: 0,
          packetsReceived: 0,
          packetsTransmitted: 0,
        };
        for (const [key, value] of reply.entries) {
          const field = INFO_KEYS[key];
          if (field !== undefined) info[field] = Number(value) || 0;
        }
        this.#smoothedSessions =
          this.#heartbeat === undefined
            ? info.activeSessions
            : 0.5 * info.activeSessions + 0.5 * this.#smoothedSessions;
        this.#heartbeat = info;
        return;
      }
      // rtpengine answers I with E8: fall back to V as the heartbeat
      this.#infoHeartbeat = false;
    }
    const v = await this.#link.send({ kind: 'V', modifiers: '' });
    if (v.kind !== 'value' || v.value !== BASE_VERSION) throw new Error('bad heartbeat');
  }

  async #heartbeatTick(): Promise<void> {
    if (this.#stopped || this.#state !== 'online') return;
    const started = this.#timers.now();
    try {
      await this.#beat();
      this.#succeeded(this.#timers.now() - started);
      this.#events.onHeartbeat(this);
    } catch (err) {
      this.#failed(err);
    }
    if (this.#state === 'online' && !this.#stopped) {
      this.#schedule(this.#options.heartbeatIntervalMs, () => this.#heartbeatTick());
    }
  }

  #goOffline(): void {
    this.#cancelTimer();
    this.#setState('offline');
    this.#scheduleReprobe();
  }

  #scheduleReprobe(): void {
    const delay = this.#reprobeDelay;
    this.#reprobeDelay = Math.min(this.#reprobeDelay * 2, this.#options.reprobeMaxMs);
    this.#schedule(delay, () => this.#probe());
  }

  #schedule(ms: number, fn: () => Promise<void>): void {
    this.#cancelTimer();
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      void fn();
    }, ms);
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #setState(to: MemberState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#events.onStateChange(this, from, to);
  }
}
