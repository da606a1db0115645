/**
 * The limits on stream connections (TCP, TLS, WebSocket) that keep one source, or many, from
 * holding the listener: a cap per source address (Kamailio `tcp_accept_iplimit`), a global cap
 * that makes room for a newcomer instead of refusing it, an idle lifetime
 * (`tcp_connection_lifetime`), a deadline for a whole message that does not restart per chunk
 * (Kamailio `tcp_msg_read_timeout`) and a deadline for a WebSocket handshake.
 *
 * No sockets here: the transport reports what happens on each connection and gives a `close`
 * callback; time and timers come from a Clock.
 */
import { type Clock, monotonicClock, type TimerHandle } from '@sipedge/core';

export type ConnectionCloseReason = 'idle' | 'message-timeout' | 'handshake-timeout' | 'evicted';

/** Why a connection was not taken: its source is at its cap, or every slot is held. */
export type ConnectionRefusal = 'per-source' | 'full';

export interface ConnectionLimitsOptions {
  readonly clock?: Clock;
  /** Most connections at once, open or in a handshake (default 4,096). */
  readonly maxConnections?: number;
  /** Most inbound connections from one source address (default 64; 0 = no cap). */
  readonly maxPerSource?: number;
  /** A connection with no complete message either way for this long is closed (default 120,000 ms; 0 = never). */
  readonly idleMs?: number;
  /** A message still incomplete this long after its first byte closes the connection (default 10,000 ms). */
  readonly messageMs?: number;
  /** A connection still in its handshake (WebSocket upgrade) this long is closed (default 10,000 ms). */
  readonly handshakeMs?: number;
}

/** One connection as the limits see it. */
export interface TrackedConnection {
  readonly source: string;
  readonly inbound: boolean;
}

interface Entry extends TrackedConnection {
  readonly close: (reason: ConnectionCloseReason) => void;
  /** Clock time of the last complete message either way (or of the accept). */
  lastActive: number;
  /** A complete message came in (a connection that never spoke is evicted first). */
  spoke: boolean;
  handshaking: boolean;
  idleTimer: TimerHandle | undefined;
  /** Asks the peer for a sign of life when the lifetime is due (a WebSocket ping). */
  probe: (() => void) | undefined;
  /** The probe was sent and nothing came since. */
  probed: boolean;
  /** The message deadline, or the handshake deadline while `handshaking`. */
  deadline: TimerHandle | undefined;
  gone: boolean;
}

/** How long a probed connection has to show a sign of life. */
export const PROBE_GRACE_MS = 10_000;

export class ConnectionLimits {
  readonly #clock: Clock;
  readonly #max: number;
  readonly #maxPerSource: number;
  readonly #idleMs: number;
  readonly #messageMs: number;
  readonly #handshakeMs: number;
  readonly #all = new Set<Entry>();
  /** Inbound connections by source address. */
  readonly #bySource = new Map<string, Set<Entry>>();

  constructor(options: ConnectionLimitsOptions = {}) {
    this.#clock = options.clock ?? monotonicClock;
    this.#max = options.maxConnections ?? 4096;
    this.#maxPerSource = options.maxPerSource ?? 64;
    this.#idleMs = options.idleMs ?? 120_000;
    this.#messageMs = options.messageMs ?? 10_000;
    this.#handshakeMs = options.handshakeMs ?? 10_000;
  }

  /** Connections tracked (open or in a handshake). */
  get size(): number {
    return this.#all.size;
  }

  /** Inbound connections from `source`. */
  countFrom(source: string): number {
    return this.#bySource.get(source)?.size ?? 0;
  }

  /**
   * May a new connection from (inbound) or to `source` be taken? An inbound one is refused when
   * its source holds `maxPerSource`. At the global cap, room is made by closing (`evicted`) an
   * inbound connection of the source that holds the most, the one that never spoke or has been
   * idle longest: sources with many idle connections pay, a client with one is not locked out.
   * Refused only when nothing can be evicted.
   */
  admit(source: string, inbound: boolean): ConnectionRefusal | undefined {
    if (inbound && this.#maxPerSource > 0 && this.countFrom(source) >= this.#maxPerSource) {
      return 'per-source';
    }
    if (this.#all.size < this.#max) return undefined;
    const victim = this.#victim();
    if (victim === undefined) return 'full';
    this.#close(victim, 'evicted');
    return this.#all.size < this.#max ? undefined : 'full';
  }

  /**
   * Tracks a connection that `admit` let in. `close` is called (once) when a limit closes it;
   * the connection must still be `remove`d when it is gone. With `handshaking`, the handshake
   * deadline runs until `established`.
   */
  add(
    source: string,
    inbound: boolean,
    close: (reason: ConnectionCloseReason) => void,
    handshaking = false,
  ): TrackedConnection {
    const e: Entry = {
      source,
      inbound,
      close,
      lastActive: this.#clock.now(),
      spoke: false,
      handshaking,
      idleTimer: undefined,
      probe: undefined,
      probed: false,
      deadline: undefined,
      gone: false,
    };
    this.#all.add(e);
    if (inbound) {
      let set = this.#bySource.get(source);
      if (set === undefined) {
        set = new Set();
        this.#bySource.set(source, set);
      }
      set.add(e);
    }
    if (handshaking) {
      e.deadline = this.#clock.setTimeout(
        () => this.#close(e, 'handshake-timeout'),
        this.#handshakeMs,
      );
    } else this.#armIdle(e, this.#idleMs);
    return e;
  }

  /**
   * The handshake completed: the idle lifetime starts. With `probe`, a connection whose
   * lifetime is due is probed first (a WebSocket ping) and closed only if nothing comes back
   * within `PROBE_GRACE_MS` (or the lifetime, when shorter): clients that keep nothing but the
   * transport's own keep-alive (browsers answer pings) stay.
   */
  established(c: TrackedConnection, probe?: () => void): void {
    const e = c as Entry;
    if (e.gone || !e.handshaking) return;
    e.handshaking = false;
    e.probe = probe;
    this.#clear(e, 'deadline');
    e.lastActive = this.#clock.now();
    this.#armIdle(e, this.#idleMs);
  }

  /** A complete message (or keep-alive) went either way: the idle lifetime restarts. */
  active(c: TrackedConnection, received = true): void {
    const e = c as Entry;
    e.lastActive = this.#clock.now();
    e.probed = false;
    if (received) e.spoke = true;
  }

  /**
   * After bytes came in: is part of a message still buffered, and did a message complete in
   * them? The deadline runs from the first byte of a message; more bytes of the same message do
   * not restart it, a new message (after one completed) does.
   */
  receiving(c: TrackedConnection, partial: boolean, completed: boolean): void {
    const e = c as Entry;
    if (e.gone || e.handshaking) return;
    if (!partial) {
      this.#clear(e, 'deadline');
      return;
    }
    if (e.deadline !== undefined && !completed) return;
    this.#clear(e, 'deadline');
    e.deadline = this.#clock.setTimeout(() => this.#close(e, 'message-timeout'), this.#messageMs);
  }

  /** The connection is gone (closed by either side): its timers stop, its slot is free. */
  remove(c: TrackedConnection): void {
    const e = c as Entry;
    if (e.gone) return;
    e.gone = true;
    this.#all.delete(e);
    this.#clear(e, 'idleTimer');
    this.#clear(e, 'deadline');
    if (e.inbound) {
      const set = this.#bySource.get(e.source);
      set?.delete(e);
      if (set?.size === 0) this.#bySource.delete(e.source);
    }
  }

  #armIdle(e: Entry, ms: number): void {
    if (this.#idleMs <= 0) return;
    e.idleTimer = this.#clock.setTimeout(() => {
      e.idleTimer = undefined;
      if (e.gone) return;
      // timers are not moved per message: a due timer re-arms for what is left
      const left = e.lastActive + this.#idleMs - this.#clock.now();
      if (left > 0) this.#armIdle(e, left);
      else if (e.probe !== undefined && !e.probed) {
        e.probed = true;
        e.probe();
        this.#armIdle(e, Math.min(this.#idleMs, PROBE_GRACE_MS));
      } else this.#close(e, 'idle');
    }, ms);
  }

  #clear(e: Entry, which: 'idleTimer' | 'deadline'): void {
    const t = e[which];
    if (t === undefined) return;
    this.#clock.clearTimeout(t);
    e[which] = undefined;
  }

  /** Closes for a limit; the slot is freed at once (the transport's `remove` then does nothing). */
  #close(e: Entry, reason: ConnectionCloseReason): void {
    if (e.gone) return;
    this.remove(e);
    e.close(reason);
  }

  /**
   * The inbound connection to close for a newcomer: of the sources holding the most, one in a
   * handshake or that never spoke before one that did, then the longest idle.
   */
  #victim(): Entry | undefined {
    let most = 0;
    for (const set of this.#bySource.values()) if (set.size > most) most = set.size;
    let best: Entry | undefined;
    for (const set of this.#bySource.values()) {
      if (set.size !== most) continue;
      for (const e of set) {
        if (best === undefined) best = e;
        else if (e.spoke !== best.spoke) {
          if (!e.spoke) best = e;
        } else if (e.lastActive < best.lastActive) best = e;
      }
    }
    return best;
  }

  /** Stops every timer (the transport closes its sockets itself). */
  clear(): void {
    for (const e of this.#all) {
      this.#clear(e, 'idleTimer');
      this.#clear(e, 'deadline');
    }
  }
}
