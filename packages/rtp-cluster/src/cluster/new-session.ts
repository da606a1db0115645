/**
 * The new-session rule, shared by the parsed and the text paths: choose a member (weighted,
 * within capacity: select.ts), try one other once if it does not answer, bind the call when the
 * member confirms. Commands of the same call that arrive meanwhile wait for the choice, so a
 * call's media numbers never split. Callbacks, not promises: this runs for every new call.
 */
import { ChurnMap, type Logger } from '@sipedge/core';
import type { Member } from '../member.js';
import type { ClusterView } from './options.js';
import { isTransportFailure } from './replies.js';
import type { SelectionStrategy } from './select.js';

/** One side (text or parsed) of the new-session rule; `A` is the command, `T` the member's answer. */
export interface NewSessionOps<A, T, R> {
  /** Sends to the member; `done` gets (undefined, answer) or (error, undefined), once, later. */
  send(m: Member, arg: A, done: (err: unknown, res: T | undefined) => void): void;
  /** The client's reply for the member's answer; sets `positive`. */
  answer(res: T, m: Member, arg: A): R;
  /** Whether the last `answer` was positive (a field: nothing to allocate). */
  positive: boolean;
  error(code: 997 | 998 | 999, arg: A): R;
  crashed(err: unknown, arg: A): R;
}

/** A command of a new call, waiting for the call's member (undefined: none could take it). */
export type ChoiceWaiter = (owner: Member | undefined) => void;

export interface NewSessionsOptions {
  readonly select: SelectionStrategy;
  readonly random: () => number;
  readonly log: Logger;
}

export class NewSessions {
  readonly #cluster: ClusterView;
  readonly #select: SelectionStrategy;
  readonly #random: () => number;
  readonly #log: Logger;
  /**
   * New calls whose member is being chosen, with the commands of the call that arrived meanwhile
   * and wait for the choice (null while none waits).
   */
  readonly #choosing = new ChurnMap<string, ChoiceWaiter[] | null>();

  constructor(cluster: ClusterView, options: NewSessionsOptions) {
    this.#cluster = cluster;
    this.#select = options.select;
    this.#random = options.random;
    this.#log = options.log;
  }

  /** Whether the member of a new call is being chosen. */
  isChoosing(callId: string): boolean {
    return this.#choosing.has(callId);
  }

  /** `waiter` runs once the call's member is chosen (at once when none is being chosen). */
  wait(callId: string, waiter: ChoiceWaiter): void {
    const waiting = this.#choosing.get(callId);
    if (waiting === undefined) waiter(undefined);
    else if (waiting === null) this.#choosing.set(callId, [waiter]);
    else waiting.push(waiter);
  }

  /** Places a new call's session on a member; `finish` gets the client's reply once. */
  place<A, T, R>(
    callId: string,
    arg: A,
    ops: NewSessionOps<A, T, R>,
    finish: (out: R) => void,
  ): void {
    this.#choosing.set(callId, null);
    this.#try(callId, arg, ops, finish, undefined);
  }

  #try<A, T, R>(
    callId: string,
    arg: A,
    ops: NewSessionOps<A, T, R>,
    finish: (out: R) => void,
    tried: Member | undefined,
  ): void {
    const counters = this.#cluster.counters;
    let out: R;
    try {
      const candidates = this.#eligible(tried);
      if (candidates.length === 0) {
        if (tried === undefined) counters.noMember++;
        out = ops.error(tried !== undefined ? 997 : this.#anyOnline() ? 998 : 999, arg);
      } else {
        const m = this.#select(candidates, this.#cluster.config.capacity_limit, this.#random);
        if (m === undefined) {
          counters.noMember++;
          out = ops.error(998, arg);
        } else {
          ops.send(m, arg, (err, res) => {
            this.#answered(callId, arg, ops, finish, m, tried, err, res);
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

  #answered<A, T, R>(
    callId: string,
    arg: A,
    ops: NewSessionOps<A, T, R>,
    finish: (out: R) => void,
    m: Member,
    tried: Member | undefined,
    err: unknown,
    res: T | undefined,
  ): void {
    const cluster = this.#cluster;
    let out: R;
    let owner: Member | undefined;
    try {
      if (err !== undefined) {
        if (!isTransportFailure(err)) throw err;
        cluster.counters.backendTimeouts++;
        cluster.counters.failovers++;
        this.#log.warn(
          { cluster: cluster.name, member: m.name, callId },
          'new session failed over',
        );
        if (tried === undefined) {
          this.#try(callId, arg, ops, finish, m);
          return;
        }
        out = ops.error(997, arg);
      } else {
        out = ops.answer(res as T, m, arg);
        if (ops.positive) {
          cluster.callTable.bind(callId, m.name);
          m.counters.sessions++;
          cluster.counters.newSessions++;
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

  /** Members that may take a new session, but `exclude`. */
  #eligible(exclude: Member | undefined): Member[] {
    const out: Member[] = [];
    const list = this.#cluster.members;
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      if (m.online && m.status === 'ACTIVE' && m !== exclude) out.push(m);
    }
    return out;
  }

  #anyOnline(): boolean {
    const list = this.#cluster.members;
    for (let i = 0; i < list.length; i++) if (list[i]!.online) return true;
    return false;
  }
}
