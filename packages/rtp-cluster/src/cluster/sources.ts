/**
 * A cluster's rules for command sources (the address a command came from on the control
 * socket; `local` for unix sockets):
 *
 * - A source may hold at most `maxSessionsPerSource` calls (default: 90% of the capacity of
 *   the cluster's members, so one sender always leaves a tenth to the others; 0: no cap).
 *   Over it, a new session answers E72, what an rtpproxy with no free port answers.
 * - X deletes only the calls its source created (a D per call to the call's member), never the
 *   members' other sessions: a balancer serves several SIP proxies, and the members serve
 *   several balancers and nodes. An X from an in-process caller (no source) still flushes
 *   every member (aggregate.ts).
 */
import { type Clock, type Logger, LogLimiter } from '@sipedge/core';
import { type DeleteCommand, deleteCommand, type RtppReply } from '@sipedge/rtpp';
import { SourceCalls } from '../calls/source-calls.js';
import type { Member } from '../member.js';
import type { ClusterView } from './options.js';
import { error, value } from './replies.js';

/** E72: no port pair for this session (rtpproxy's answer when its range is full). */
export const SOURCE_LIMITED_CODE = 72;

export class SourceRules {
  readonly calls: SourceCalls;
  readonly #view: ClusterView;
  readonly #max: number | undefined;
  readonly #log: Logger;
  readonly #logLimit: LogLimiter;

  constructor(
    view: ClusterView,
    options: { maxSessionsPerSource: number | undefined; log: Logger; clock: Clock },
  ) {
    this.#view = view;
    this.calls = new SourceCalls(view.callTable);
    this.#max = options.maxSessionsPerSource;
    this.#log = options.log;
    this.#logLimit = new LogLimiter({ clock: options.clock });
  }

  /** Calls one source may hold now (0: no cap). */
  get cap(): number {
    if (this.#max !== undefined) return this.#max;
    let capacity = 0;
    const list = this.#view.members;
    for (let i = 0; i < list.length; i++) capacity += list[i]!.capacity;
    return Math.max(1, Math.floor(capacity * 0.9));
  }

  /** Takes a slot for a new session of `source`; false (counted, logged) when it has none. */
  admit(source: string): boolean {
    const cap = this.cap;
    if (this.calls.reserve(source, cap)) return true;
    this.#view.counters.sourceLimited++;
    const suppressed = this.#logLimit.admit(source);
    if (suppressed !== undefined) {
      this.#log.warn(
        { cluster: this.#view.name, source, held: this.calls.held(source), cap, suppressed },
        'new session refused: source holds max_sessions_per_source',
      );
    }
    return false;
  }

  /**
   * X from `source`: a D for each of its calls to the call's member; the call table forgets
   * them. E997 when a member did not answer, as the member-wide flush.
   */
  async flush(
    source: string,
    send: (m: Member, cmd: DeleteCommand) => Promise<RtppReply>,
  ): Promise<RtppReply> {
    const table = this.#view.callTable;
    const sent: Promise<RtppReply>[] = [];
    for (const call of this.calls.callsOf(source)) {
      const name = table.lookup(call.callId);
      const m = name === undefined ? undefined : this.#view.member(name);
      table.markDeleted(call.callId);
      if (m === undefined || !m.online) continue;
      sent.push(send(m, deleteCommand(call.callId, call.fromTag)));
    }
    const results = await Promise.allSettled(sent);
    this.#log.info({ cluster: this.#view.name, source, calls: sent.length }, 'X: source flushed');
    return results.some((r) => r.status === 'rejected') ? error(997) : value('0');
  }
}
