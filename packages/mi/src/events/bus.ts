import { type Clock, type Logger, noopLogger, systemClock } from '@sipedge/core';
import { MiDefinitionError } from '../errors.js';
import type { StatisticsRegistry } from '../stats/registry.js';

/** Event parameters: a flat JSON object (`{"cluster_id":1,"node_id":2,"new_state":1}`). */
export type EventParams = Readonly<Record<string, unknown>>;

/**
 * Where events go: a WebSocket session, a `udp:`/`tcp:` socket, or anything else. `deliver`
 * gets the ready JSON-RPC notification text; it returns false if the sink is broken and should
 * be removed.
 */
export interface EventSink {
  /** The subscriber's address as listed by `subscribers_list` (`udp:127.0.0.1:9000`, `ws:3`). */
  readonly socket: string;
  deliver(text: string, event: string, params: EventParams): boolean;
  /** Release resources; called once when the subscription ends (expiry, unsubscribe, drop). */
  close?(): void;
}

export interface EventInfo {
  name: string;
  id: number;
}

export interface SubscriberInfo {
  socket: string;
  /** Seconds until expiry, or "never". */
  expire: number | 'never';
}

interface Subscription {
  sink: EventSink;
  expiresAt: number | undefined;
}

interface EventEntry {
  name: string;
  id: number;
  subs: Map<string, Subscription>;
  listeners: Set<(params: EventParams) => void>;
}

export interface EventBusOptions {
  clock?: Pick<Clock, 'now'>;
  logger?: Logger;
  /** Counters `events:raised`, `events:delivered`, `events:dropped` go here. */
  stats?: StatisticsRegistry;
  /** At most this many subscribers per event (default 64). */
  maxSubscribersPerEvent?: number;
}

const EVENT_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** The JSON-RPC notification OpenSIPS's `evi_build_payload` produces. */
export function eventPayload(method: string, params: EventParams): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}

/**
 * Events packages raise and subscribers receive, as OpenSIPS's event interface: named events
 * with ids in registration order, subscriptions per (event, socket) with optional expiry that a
 * repeated subscribe refreshes, and in-process listeners.
 */
export class EventBus {
  readonly #events = new Map<string, EventEntry>();
  readonly #clock: Pick<Clock, 'now'>;
  readonly #logger: Logger;
  readonly #maxSubs: number;
  readonly #raised;
  readonly #delivered;
  readonly #dropped;

  constructor(options: EventBusOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
    this.#maxSubs = options.maxSubscribersPerEvent ?? 64;
    const stats = options.stats;
    this.#raised = stats?.counter('events', 'raised', 'MI events raised');
    this.#delivered = stats?.counter('events', 'delivered', 'MI events delivered to a subscriber');
    this.#dropped = stats?.counter(
      'events',
      'dropped',
      'MI event deliveries that failed; the subscriber was removed',
    );
  }

  /** Declare an event so it is listed and can be subscribed to (idempotent). */
  register(name: string): EventInfo {
    if (!EVENT_RE.test(name)) throw new MiDefinitionError(`bad event name '${name}'`);
    let e = this.#events.get(name);
    if (e === undefined) {
      e = { name, id: this.#events.size, subs: new Map(), listeners: new Set() };
      this.#events.set(name, e);
    }
    return { name: e.name, id: e.id };
  }

  has(name: string): boolean {
    return this.#events.has(name);
  }

  /**
   * Does anything listen to this event (a listener or a subscriber)? Lets a raiser skip
   * building params nobody reads (and still `raise` with empty params, for the count).
   */
  wanted(name: string): boolean {
    const e = this.#events.get(name);
    return e !== undefined && (e.listeners.size > 0 || e.subs.size > 0);
  }

  /**
   * Raise an event: every live subscriber gets `{"jsonrpc":"2.0","method":name,"params":…}`.
   * An undeclared event is declared on first raise. Returns how many sinks accepted it.
   */
  raise(name: string, params: EventParams = {}): number {
    const e = this.#events.get(name) ?? this.#events.get(this.register(name).name)!;
    this.#raised?.inc();
    for (const l of e.listeners) {
      try {
        l(params);
      } catch (err) {
        this.#logger.warn({ err, event: name }, 'event listener threw');
      }
    }
    if (e.subs.size === 0) return 0;
    this.#sweep(e);
    const text = eventPayload(name, params);
    let n = 0;
    for (const [socket, sub] of e.subs) {
      let ok = false;
      try {
        ok = sub.sink.deliver(text, name, params);
      } catch (err) {
        this.#logger.warn({ err, event: name, socket }, 'event sink threw');
      }
      if (ok) {
        n++;
        this.#delivered?.inc();
      } else {
        this.#dropped?.inc();
        this.#remove(e, socket);
      }
    }
    return n;
  }

  /**
   * Subscribe a sink to an event, for `expireSec` seconds (undefined: until unsubscribed).
   * Subscribing the same socket again refreshes the expiry and keeps the first sink.
   * Throws `MiDefinitionError` for an unknown event or a full subscriber list.
   */
  subscribe(event: string, sink: EventSink, expireSec?: number): void {
    const e = this.#events.get(event);
    if (e === undefined) throw new MiDefinitionError(`unknown event '${event}'`);
    this.#sweep(e);
    const expiresAt = expireSec === undefined ? undefined : this.#clock.now() + expireSec * 1000;
    const existing = e.subs.get(sink.socket);
    if (existing !== undefined) {
      existing.expiresAt = expiresAt;
      if (existing.sink !== sink) sink.close?.();
      return;
    }
    if (e.subs.size >= this.#maxSubs) {
      throw new MiDefinitionError(`too many subscribers for '${event}'`);
    }
    e.subs.set(sink.socket, { sink, expiresAt });
  }

  /** End a subscription; true if it existed. */
  unsubscribe(event: string, socket: string): boolean {
    const e = this.#events.get(event);
    if (e === undefined || !e.subs.has(socket)) return false;
    this.#remove(e, socket);
    return true;
  }

  /** End every subscription of a socket (a closed WebSocket session); returns how many. */
  unsubscribeAll(socket: string): number {
    let n = 0;
    for (const e of this.#events.values()) {
      if (e.subs.has(socket)) {
        this.#remove(e, socket);
        n++;
      }
    }
    return n;
  }

  /** An in-process listener; returns a function that removes it. */
  on(event: string, listener: (params: EventParams) => void): () => void {
    const e = this.#events.get(event) ?? this.#events.get(this.register(event).name)!;
    e.listeners.add(listener);
    return () => {
      e.listeners.delete(listener);
    };
  }

  /** Declared events with their ids (`events_list`). */
  events(): EventInfo[] {
    return [...this.#events.values()].map((e) => ({ name: e.name, id: e.id }));
  }

  /** Live subscribers of one event, or undefined for an unknown event. */
  subscribers(event: string): SubscriberInfo[] | undefined {
    const e = this.#events.get(event);
    if (e === undefined) return undefined;
    this.#sweep(e);
    const now = this.#clock.now();
    return [...e.subs.entries()].map(([socket, s]) => ({
      socket,
      expire:
        s.expiresAt === undefined ? 'never' : Math.max(0, Math.ceil((s.expiresAt - now) / 1000)),
    }));
  }

  /** End every subscription (closing their sinks). */
  close(): void {
    for (const e of this.#events.values())
      for (const socket of [...e.subs.keys()]) this.#remove(e, socket);
  }

  #sweep(e: EventEntry): void {
    const now = this.#clock.now();
    for (const [socket, s] of e.subs) {
      if (s.expiresAt !== undefined && s.expiresAt <= now) this.#remove(e, socket);
    }
  }

  #remove(e: EventEntry, socket: string): void {
    const s = e.subs.get(socket);
    if (s === undefined) return;
    e.subs.delete(socket);
    try {
      s.sink.close?.();
    } catch (err) {
      this.#logger.warn({ err, socket }, 'event sink close threw');
    }
  }
}
