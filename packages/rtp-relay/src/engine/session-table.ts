/**
 * The live sessions by call-id, and how a command's tags find them: rtpproxy's matching, where a
 * plain tag matches every media number (`tag;N`) of a call and the command's from-tag may name
 * either side of a session.
 */
import { type Session, tagMatches } from './session.js';

export class SessionTable {
  readonly #byCallId = new Map<string, Session[]>();
  #nextId = 1;

  /** A fresh session id. */
  newId(): number {
    return this.#nextId++;
  }

  /** Number of live sessions (one per call-id/tag/media-number). */
  get count(): number {
    let n = 0;
    for (const list of this.#byCallId.values()) n += list.length;
    return n;
  }

  all(): Session[] {
    const out: Session[] = [];
    for (const list of this.#byCallId.values()) out.push(...list);
    return out;
  }

  add(session: Session): void {
    let list = this.#byCallId.get(session.callId);
    if (list === undefined) {
      list = [];
      this.#byCallId.set(session.callId, list);
    }
    list.push(session);
  }

  remove(session: Session): void {
    const list = this.#byCallId.get(session.callId);
    if (list === undefined) return;
    const i = list.indexOf(session);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byCallId.delete(session.callId);
  }

  /**
   * The session a command names and whether its from-tag is the session's from-tag side.
   * An exact match wins over a `;N`-less one, and a session whose to-tag also fits wins.
   */
  find(
    callId: string,
    fromTag: string,
    toTag: string | undefined,
  ): { session: Session; fromSide: boolean } | undefined {
    const list = this.#byCallId.get(callId);
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
  matchAll(callId: string, fromTag: string, toTag: string | undefined): Session[] {
    const list = this.#byCallId.get(callId);
    if (list === undefined) return [];
    return list.filter(
      (s) =>
        tagMatches(s.fromTag, fromTag) || (toTag !== undefined && tagMatches(s.fromTag, toTag)),
    );
  }
}
