/**
 * Sessions per command source: the address a session's creating U came from (`local` for unix
 * sockets). A source holding its cap gets E72 for a new session, as if the port range were
 * full for it, so one sender cannot take every port pair from the others. X ends only the
 * sessions of the source that sends it.
 */
import { type Clock, type Logger, LogLimiter, SourceCounts } from '@sipedge/core';

export class SourceSessions {
  /** Sessions one source may hold (0: no cap). */
  readonly max: number;
  readonly #count = new SourceCounts();
  readonly #log: Logger;
  readonly #logLimit: LogLimiter;

  constructor(max: number, log: Logger, clock: Clock) {
    this.max = max;
    this.#log = log;
    this.#logLimit = new LogLimiter({ clock });
  }

  /** Whether `source` may create one more session (logged, once a minute, when not). */
  mayCreate(source: string): boolean {
    if (this.max <= 0) return true;
    const held = this.#count.of(source);
    if (held < this.max) return true;
    const suppressed = this.#logLimit.admit(source);
    if (suppressed !== undefined) {
      this.#log.warn(
        { source, held, suppressed },
        'new session refused: source holds max_sessions_per_source',
      );
    }
    return false;
  }

  added(source: string): void {
    this.#count.add(source);
  }

  removed(source: string): void {
    this.#count.remove(source);
  }

  /** Live sessions of a source. */
  held(source: string): number {
    return this.#count.of(source);
  }
}
