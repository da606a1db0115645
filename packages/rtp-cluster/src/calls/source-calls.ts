/**
 * The calls each command source created through a cluster's control socket: how many it holds
 * (a source over its cap gets no new session) and which they are (an X from a source deletes
 * only its own calls, by call-id and the from-tag of the U that created each). A call leaves
 * its source when the call table deletes, expires or forgets it. Calls created in-process (no
 * source) are not tracked.
 */
import { baseTag } from '@sipedge/rtpp';
import type { CallTable, CallTableChange } from './call-table.js';

interface Held {
  /** call-id → the from-tag of the U that created the call (without its `;N`). */
  readonly calls: Map<string, string>;
  /** New sessions being placed now (counted against the cap until they settle). */
  pending: number;
}

/** A call of a source, as an X deletes it. */
export interface SourceCall {
  readonly callId: string;
  readonly fromTag: string;
}

export class SourceCalls {
  readonly #table: CallTable;
  readonly #bySource = new Map<string, Held>();
  readonly #sourceOf = new Map<string, string>();
  #unsubscribe: (() => void) | undefined;

  constructor(table: CallTable) {
    this.#table = table;
  }

  /** Calls a source holds and is placing now. */
  held(source: string): number {
    const h = this.#bySource.get(source);
    return h === undefined ? 0 : h.calls.size + h.pending;
  }

  /** Takes a slot for a new session of `source`: false when it holds `cap` (0: no cap). */
  reserve(source: string, cap: number): boolean {
    let h = this.#bySource.get(source);
    if (cap > 0 && h !== undefined && h.calls.size + h.pending >= cap) return false;
    if (h === undefined) {
      h = { calls: new Map(), pending: 0 };
      this.#bySource.set(source, h);
    }
    h.pending++;
    return true;
  }

  /** The new session of a `reserve` was answered: the call is the source's if it is now bound. */
  settle(source: string, callId: string, fromTag: string): void {
    const h = this.#bySource.get(source);
    if (h === undefined) return;
    h.pending--;
    if (this.#table.isLive(callId) && !this.#sourceOf.has(callId)) {
      h.calls.set(callId, baseTag(fromTag));
      this.#sourceOf.set(callId, source);
      this.#unsubscribe ??= this.#table.subscribe((c) => this.#onChange(c));
    }
    if (h.calls.size === 0 && h.pending === 0) this.#bySource.delete(source);
  }

  /** The calls of `source` (a copy: deleting them changes the set). */
  callsOf(source: string): SourceCall[] {
    const h = this.#bySource.get(source);
    if (h === undefined) return [];
    return [...h.calls].map(([callId, fromTag]) => ({ callId, fromTag }));
  }

  /** Stops following the call table. */
  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #onChange(change: CallTableChange): void {
    if (change.type === 'bind') return;
    const source = this.#sourceOf.get(change.callId);
    if (source === undefined) return;
    this.#sourceOf.delete(change.callId);
    const h = this.#bySource.get(source);
    if (h === undefined) return;
    h.calls.delete(change.callId);
    if (h.calls.size === 0 && h.pending === 0) this.#bySource.delete(source);
  }
}
