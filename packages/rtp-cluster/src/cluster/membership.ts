/**
 * The members of one cluster and how they come and go: added (admin `add`, reload), drained
 * (`delete`/`remove`: no new sessions, removed once it holds no call, at once when it is offline
 * or idle), paused and resumed, reconfigured by a reload. Raises the member_* events.
 */
import type { Clock, Logger } from '@sipedge/core';
import type { CallTable } from '../calls/call-table.js';
import type { MemberConfig } from '../config/schema.js';
import { Member, type MemberLinkFactory, type MemberOptions, type MemberState } from '../member.js';
import type { RtpClusterEvent } from './options.js';

export interface MembershipOptions {
  /** The cluster's name, for events and logs. */
  readonly cluster: string;
  readonly callTable: CallTable;
  readonly connect: MemberLinkFactory;
  readonly timers: Clock;
  readonly member: MemberOptions;
  readonly log: Logger;
  readonly onEvent: (event: RtpClusterEvent) => void;
}

export class Membership {
  readonly #byName = new Map<string, Member>();
  #list: readonly Member[] | undefined;
  readonly #cluster: string;
  readonly #callTable: CallTable;
  readonly #connect: MemberLinkFactory;
  readonly #timers: Clock;
  readonly #memberOptions: MemberOptions;
  readonly #log: Logger;
  readonly #onEvent: (event: RtpClusterEvent) => void;
  #started = false;

  constructor(configs: readonly MemberConfig[], options: MembershipOptions) {
    this.#cluster = options.cluster;
    this.#callTable = options.callTable;
    this.#connect = options.connect;
    this.#timers = options.timers;
    this.#memberOptions = options.member;
    this.#log = options.log;
    this.#onEvent = options.onEvent;
    for (const m of configs) this.#create(m);
  }

  /** Members by name: one map for the life of the cluster, which routes every command by it. */
  get byName(): ReadonlyMap<string, Member> {
    return this.#byName;
  }

  /** Members in configuration order (a snapshot, replaced whenever membership changes). */
  get list(): readonly Member[] {
    this.#list ??= [...this.#byName.values()];
    return this.#list;
  }

  start(): void {
    this.#started = true;
    for (const m of this.#byName.values()) m.start();
  }

  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all([...this.#byName.values()].map((m) => m.stop()));
  }

  add(config: MemberConfig): Member {
    if (this.#byName.has(config.name)) {
      throw new Error(`${config.name}: RTPproxy already exists`);
    }
    const m = this.#create(config);
    if (this.#started) m.start();
    this.#onEvent({ type: 'member_added', cluster: this.#cluster, member: m.name });
    return m;
  }

  /** No new sessions; the member is removed when it holds no session. */
  drain(name: string): boolean {
    const m = this.#byName.get(name);
    if (m === undefined) return false;
    m.status = 'DRAINING';
    this.#onEvent({ type: 'member_draining', cluster: this.#cluster, member: name });
    void this.#checkDrain(m);
    return true;
  }

  pause(name: string): boolean {
    const m = this.#byName.get(name);
    if (m === undefined) return false;
    if (m.status !== 'DRAINING') m.status = 'SUSPENDED';
    return true;
  }

  resume(name: string): boolean {
    const m = this.#byName.get(name);
    if (m === undefined) return false;
    m.status = 'ACTIVE';
    return true;
  }

  /** A reload: new members are added, existing ones reconfigured, missing ones drained. */
  async reconfigure(configs: readonly MemberConfig[]): Promise<void> {
    const wanted = new Set(configs.map((m) => m.name));
    for (const mc of configs) {
      const existing = this.#byName.get(mc.name);
      if (existing === undefined) this.add(mc);
      else await existing.reconfigure(mc);
    }
    for (const m of this.list) if (!wanted.has(m.name)) this.drain(m.name);
  }

  /** Removes the draining members that hold no call any more (the cluster's housekeeping). */
  checkDrains(): void {
    for (const m of this.list) if (m.status === 'DRAINING') void this.#checkDrain(m);
  }

  #create(config: MemberConfig): Member {
    const m = new Member(config, this.#connect, this.#timers, this.#memberOptions, {
      onStateChange: (member, from, to) => this.#stateChanged(member, from, to),
      onHeartbeat: (member) => {
        if (member.status === 'DRAINING') void this.#checkDrain(member);
      },
    });
    m.liveCalls = () => this.#callTable.liveCalls(m.name);
    this.#byName.set(config.name, m);
    this.#list = undefined;
    return m;
  }

  #stateChanged(m: Member, from: MemberState, to: MemberState): void {
    this.#log.info({ cluster: this.#cluster, member: m.name, from, to }, 'member state');
    if (to === 'online')
      this.#onEvent({ type: 'member_up', cluster: this.#cluster, member: m.name });
    else if (from === 'online')
      this.#onEvent({ type: 'member_down', cluster: this.#cluster, member: m.name });
    if (m.status === 'DRAINING') void this.#checkDrain(m);
  }

  async #checkDrain(m: Member): Promise<void> {
    if (m.status !== 'DRAINING' || this.#byName.get(m.name) !== m) return;
    const idle =
      !m.online || (this.#callTable.liveCalls(m.name) === 0 && (m.reportedSessions ?? 0) === 0);
    if (!idle) return;
    this.#byName.delete(m.name);
    this.#list = undefined;
    this.#callTable.forgetMember(m.name);
    await m.stop();
    this.#log.info({ cluster: this.#cluster, member: m.name }, 'member removed');
    this.#onEvent({ type: 'member_removed', cluster: this.#cluster, member: m.name });
  }
}
