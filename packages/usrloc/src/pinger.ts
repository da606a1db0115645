import { type Logger, noopLogger, type StatisticsRegistry } from '@sipedge/mi';
import { type Clock, createRequest, parseNameAddr, systemClock } from '@sipedge/sip';
import type { Location } from './location.js';
import type { ContactRecord } from './model.js';

/** OPTIONS = a stateless SIP request; crlf = an RFC 5626 double-CRLF keep-alive. */
export type PingKind = 'options' | 'crlf';

/** One keep-alive to send. */
export interface PingRequest {
  readonly contact: ContactRecord;
  readonly kind: PingKind;
  /** Next hop: the first Path hop, else received, else the contact URI. */
  readonly destination: string;
  /** Socket to send from (stored socket), or null. */
  readonly socket: string | null;
  /** The bytes: an OPTIONS request (with Route from the Path) or `\r\n\r\n`. */
  readonly payload: Buffer;
}

/** What came back: a SIP status, a CRLF pong, or nothing (undefined). */
export type PingReply = { readonly status: number } | { readonly pong: true } | undefined;

export interface NatPingerOptions {
  readonly location: Location;
  /** Sends a keep-alive; resolves with the reply, or undefined when none came. */
  readonly send: (ping: PingRequest) => Promise<PingReply>;
  /** Is this sharing tag active on this node? Evaluated per ping (default: every tag is). */
  readonly isTagActive?: (shtag: string) => boolean;
  /**
   * Decides ownership itself, replacing the tag rule (default: untagged contacts, and tagged
   * ones whose tag is active). A cluster node uses it so that a contact registered through its
   * own address (untagged, but replicated everywhere) is pinged by that node only.
   */
  readonly owns?: (contact: ContactRecord) => boolean;
  readonly clock?: Clock;
  readonly kind?: PingKind;
  /** Every contact is pinged once per interval (ms, default 30,000; natping_interval). */
  readonly intervalMs?: number;
  /** Timer granularity: the interval is split into interval/tick slots (ms, default 1000). */
  readonly tickMs?: number;
  /** A ping unanswered after this is lost (ms, default 3000, at most interval/2; ping_threshold). */
  readonly timeoutMs?: number;
  /** Remove a contact after this many lost pings in a row (default 3; max_pings_lost). */
  readonly maxPingsLost?: number;
  /** Only contacts with one of these flag bits are pinged (default 0 = all contacts). */
  readonly pingFlags?: number;
  /** Only contacts with one of these flag bits are removed on timeout (default 0 = all). */
  readonly removeFlags?: number;
  /** Replies that do not prove the UA is alive (intermediary-made; default 408, 480). */
  readonly ignoreReplyCodes?: readonly number[];
  /** Pings in flight at most; more wait for the next tick (default 10,000). */
  readonly maxInFlight?: number;
  /** From URI of OPTIONS pings (sipping_from). */
  readonly from?: string;
  /** Host put in the Via of OPTIONS pings. */
  readonly viaHost?: string;
  readonly stats?: StatisticsRegistry;
  /** pino-compatible logger (default: none). */
  readonly logger?: Logger;
}

/**
 * NAT keep-alive pinger (OpenSIPS nathelper, ownership mode): each tick pings the contacts of
 * the next 1/slots of the AoRs, only those whose owner tag is active here, and removes a contact
 * after `maxPingsLost` pings in a row got no real reply.
 */
export class NatPinger {
  readonly #o: NatPingerOptions;
  readonly #clock: Clock;
  readonly #kind: PingKind;
  readonly #slots: number;
  readonly #tickMs: number;
  readonly #timeoutMs: number;
  readonly #maxLost: number;
  readonly #ignore: ReadonlySet<number>;
  readonly #maxInFlight: number;
  readonly #lost = new Map<string, number>();
  readonly #inFlight = new Set<string>();
  readonly #c;
  #cursor: IterableIterator<[string, readonly ContactRecord[]]> | undefined;
  #timer: unknown;
  #running = false;
  #seq = 0;

  constructor(options: NatPingerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#kind = options.kind ?? 'options';
    const interval = options.intervalMs ?? 30_000;
    this.#tickMs = Math.min(options.tickMs ?? 1000, interval);
    this.#slots = Math.max(1, Math.round(interval / this.#tickMs));
    this.#timeoutMs = Math.min(options.timeoutMs ?? 3000, interval / 2);
    this.#maxLost = options.maxPingsLost ?? 3;
    this.#ignore = new Set(options.ignoreReplyCodes ?? [408, 480]);
    this.#maxInFlight = options.maxInFlight ?? 10_000;
    const s = options.stats;
    this.#c = {
      sent: s?.counter('nathelper', 'pings_sent'),
      replied: s?.counter('nathelper', 'pings_replied'),
      lost: s?.counter('nathelper', 'pings_lost'),
      ignored: s?.counter('nathelper', 'replies_ignored'),
      removed: s?.counter('nathelper', 'contacts_removed'),
      skipped: s?.counter('nathelper', 'pings_skipped'),
      errors: s?.counter('nathelper', 'errors'),
    };
  }

  #unsubscribe: (() => void) | undefined;

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#unsubscribe = this.#o.location.onChange((changes) => {
      for (const ch of changes) if (ch.type === 'delete') this.#lost.delete(ch.contact.id);
    });
    this.#arm();
  }

  stop(): void {
    this.#running = false;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  /** Consecutive lost pings of a contact (0 when answered or never pinged). */
  lostPings(contactId: string): number {
    return this.#lost.get(contactId) ?? 0;
  }

  #arm(): void {
    this.#timer = this.#clock.setTimer(this.#tickMs, () => {
      this.#timer = undefined;
      this.runTick();
      if (this.#running) this.#arm();
    });
  }

  #owned(c: ContactRecord): boolean {
    if (this.#o.owns !== undefined) return this.#o.owns(c);
    if (c.shtag === null) return true;
    return this.#o.isTagActive?.(c.shtag) ?? true;
  }

  /** One tick: ping the contacts of the current slot. Returns how many pings went out. */
  runTick(): number {
    // each tick walks the next 1/slots of the AoRs (a cursor kept across ticks), so every
    // contact is pinged about once per interval and a tick costs O(contacts / slots)
    const quota = Math.ceil(this.#o.location.aorCount / this.#slots);
    const flags = this.#o.pingFlags ?? 0;
    let sent = 0;
    this.#cursor ??= this.#o.location.aorEntries();
    let wrapped = false;
    for (let n = 0; n < quota; n++) {
      let next = this.#cursor.next();
      if (next.done === true) {
        if (wrapped) break; // fewer AoRs than the quota: each visited once this tick
        wrapped = true; // round complete: start the next one
        this.#cursor = this.#o.location.aorEntries();
        next = this.#cursor.next();
        if (next.done === true) break;
      }
      for (const c of next.value[1]) {
        if (flags !== 0 && (c.flags & flags) === 0) continue;
        if (!this.#owned(c)) {
          this.#lost.delete(c.id); // ownership moved: counters restart on the new owner
          continue;
        }
        if (this.#inFlight.has(c.id)) continue;
        if (this.#inFlight.size >= this.#maxInFlight) {
          this.#c.skipped?.inc();
          continue;
        }
        this.#ping(c);
        sent++;
      }
    }
    return sent;
  }

  #ping(c: ContactRecord): void {
    const destination = c.path.length > 0 ? parseNameAddr(c.path[0]!).uri : (c.received ?? c.uri);
    const payload = this.#kind === 'crlf' ? Buffer.from('\r\n\r\n') : this.#options(c);
    this.#inFlight.add(c.id);
    this.#c.sent?.inc();
    let settled = false;
    const done = (reply: PingReply): void => {
      if (settled) return;
      settled = true;
      this.#clock.clearTimer(timer);
      this.#inFlight.delete(c.id);
      try {
        this.#result(c, reply);
      } catch (err) {
        // removing the contact failed (store error): count, log, retry on the next lost ping
        this.#c.errors?.inc();
        (this.#o.logger ?? noopLogger).error({ err, contact: c.id }, 'nat ping removal failed');
      }
    };
    const timer = this.#clock.setTimer(this.#timeoutMs, () => done(undefined));
    let p: Promise<PingReply>;
    try {
      p = this.#o.send({ contact: c, kind: this.#kind, destination, socket: c.socket, payload });
    } catch {
      p = Promise.resolve(undefined);
    }
    p.then(done, () => done(undefined));
  }

  #options(c: ContactRecord): Buffer {
    this.#seq++;
    const host = this.#o.viaHost ?? 'localhost';
    const headers: [string, string][] = [
      ['Via', `SIP/2.0/UDP ${host};branch=z9hG4bKnp${this.#seq.toString(36)}`],
    ];
    for (const p of c.path) headers.push(['Route', p]);
    headers.push(
      ['Max-Forwards', '70'],
      ['To', `<${c.uri}>`],
      ['From', `<${this.#o.from ?? `sip:pinger@${host}`}>;tag=np${this.#seq.toString(36)}`],
      ['Call-ID', `np-${this.#seq.toString(36)}@${host}`],
      ['CSeq', '1 OPTIONS'],
    );
    return createRequest({ method: 'OPTIONS', uri: c.uri, headers }).toBuffer();
  }

  #result(c: ContactRecord, reply: PingReply): void {
    let alive = false;
    if (reply !== undefined) {
      if ('pong' in reply) alive = this.#kind === 'crlf';
      else if (this.#kind === 'options' && reply.status >= 100 && reply.status <= 699) {
        alive = !this.#ignore.has(reply.status);
        if (!alive) this.#c.ignored?.inc();
      }
    }
    if (alive) {
      this.#c.replied?.inc();
      this.#lost.delete(c.id);
      return;
    }
    this.#c.lost?.inc();
    const n = (this.#lost.get(c.id) ?? 0) + 1;
    const removable =
      (this.#o.removeFlags ?? 0) === 0 || (c.flags & (this.#o.removeFlags ?? 0)) !== 0;
    if (n >= this.#maxLost && removable) {
      this.#lost.delete(c.id);
      if (this.#o.location.removeContact(c.aor, c.id, 'ping-timeout')) this.#c.removed?.inc();
    } else {
      this.#lost.set(c.id, n);
    }
  }
}
