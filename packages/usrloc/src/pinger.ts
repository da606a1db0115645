import { type Clock, type Logger, noopLogger, systemClock } from '@sipedge/core';
import type { StatisticsRegistry } from '@sipedge/mi';
import { createRequest, parseNameAddr } from '@sipedge/sip';
import type { ChangeReason, ContactChange } from './location/changes.js';
import type { Location } from './location/location.js';
import { type ContactRecord, FLAG_NAT } from './model.js';
import { isBehindNat } from './nat.js';

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
  /** How long the pinger waits for the reply (ms); a sender may forget the ping after it. */
  readonly timeoutMs: number;
}

/**
 * What came back: a SIP status, a CRLF pong, an ICMP "port unreachable" for the destination
 * (the only answer that counts as lost before the timeout), or nothing yet (undefined: the
 * pinger keeps waiting until its timeout).
 */
export type PingReply =
  | { readonly status: number }
  | { readonly pong: true }
  | { readonly unreachable: true }
  | undefined;

export interface NatPingerOptions {
  readonly location: Location;
  /**
   * Sends a keep-alive; resolves with the reply, or undefined when none will come. A rejection
   * or throw is a local failure (counted as an error; the contact is not charged with a loss).
   */
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
  /** Each contact is pinged once per interval (ms, default 30,000; natping_interval). */
  readonly intervalMs?: number;
  /** Timer granularity (ms, default 1000): pings are due on whole ticks. */
  readonly tickMs?: number;
  /** A ping unanswered after this is lost (ms, default 3000, at most interval/2). */
  readonly timeoutMs?: number;
  /**
   * Remove a contact after this many lost pings in a row (default 0: never, as OpenSIPS
   * without `remove_on_timeout_bflag`).
   */
  readonly removeAfterLost?: number;
  /** Ping every contact, not only those behind NAT (default false). */
  readonly pingAll?: boolean;
  /** Contacts with one of these flag bits are behind NAT (default FLAG_NAT; nat_bflag). */
  readonly natFlags?: number;
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

/** A contact in the schedule: its AoR (to find the record) and the tick its next ping is due. */
interface Slot {
  readonly aor: string;
  due: number;
}

/** Unanswered pings of one contact in a row, and when the first of them was sent. */
interface Losses {
  count: number;
  since: number;
}

/**
 * NAT keep-alive pinger (OpenSIPS nathelper, ownership mode). Each contact behind NAT has its
 * own due time on a wheel of ticks: it is pinged once per interval, measured from its own last
 * ping, and a contact registered or refreshed is first pinged one interval later. Contacts the
 * pinger finds at start are spread evenly over the first interval; a tick sends at most about
 * 1.25× its even share (contacts/ticks per interval), so a burst of registrations is spread
 * too and nothing is ever pinged more often than once per interval. Only contacts this node
 * owns are pinged (the active node of their sharing tag, or the `owns` rule).
 *
 * Removal on lost pings is opt-in (`removeAfterLost`). A ping counts as lost only when its
 * timeout has elapsed without a reply from the UA, or an ICMP port unreachable came back; a
 * contact refreshed since its first unanswered ping is never removed. Each removal is logged,
 * counted by reason and announced as E_UL_CONTACT_DELETE with its reason.
 */
export class NatPinger {
  readonly #o: NatPingerOptions;
  readonly #clock: Clock;
  readonly #kind: PingKind;
  readonly #interval: number;
  readonly #tickMs: number;
  readonly #ticksPerInterval: number;
  readonly #timeoutMs: number;
  readonly #removeAfter: number;
  readonly #natFlags: number;
  readonly #ignore: ReadonlySet<number>;
  readonly #maxInFlight: number;
  readonly #logger: Logger;
  /** contact id → where it is on the wheel */
  readonly #slots = new Map<string, Slot>();
  /** tick → contact ids due then (an id whose slot moved is skipped when its old tick comes) */
  readonly #wheel = new Map<number, string[]>();
  /** due contacts the last ticks had no room for, oldest first */
  #backlog: string[] = [];
  #backlogHead = 0;
  readonly #lost = new Map<string, Losses>();
  readonly #inFlight = new Set<string>();
  readonly #c;
  /** the next tick whose wheel bucket is still to be read */
  #nextTick = 0;
  #timer: unknown;
  #running = false;
  #seq = 0;
  #unsubscribe: (() => void) | undefined;

  constructor(options: NatPingerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#kind = options.kind ?? 'options';
    this.#interval = options.intervalMs ?? 30_000;
    this.#tickMs = Math.min(options.tickMs ?? 1000, this.#interval);
    this.#ticksPerInterval = Math.max(1, Math.round(this.#interval / this.#tickMs));
    this.#timeoutMs = Math.min(options.timeoutMs ?? 3000, this.#interval / 2);
    this.#removeAfter = options.removeAfterLost ?? 0;
    this.#natFlags = options.natFlags ?? FLAG_NAT;
    this.#ignore = new Set(options.ignoreReplyCodes ?? [408, 480]);
    this.#maxInFlight = options.maxInFlight ?? 10_000;
    this.#logger = options.logger ?? noopLogger;
    const s = options.stats;
    const c = (name: string, help: string) => s?.counter('nathelper', name, help);
    this.#c = {
      sent: c('pings_sent', 'NAT keep-alive pings sent'),
      replied: c('pings_replied', 'NAT keep-alive pings answered'),
      lost: c('pings_lost', 'NAT keep-alive pings not answered in time or unreachable'),
      ignored: c('replies_ignored', 'Ping replies ignored as made on the way (408, 480…)'),
      removed: c('contacts_removed', 'Contacts removed for unanswered pings, every reason'),
      removedTimeout: c('contacts_removed_timeout', 'Contacts removed: pings timed out'),
      removedUnreachable: c(
        'contacts_removed_unreachable',
        'Contacts removed: the contact was unreachable',
      ),
      skipped: c('pings_skipped', 'Ping rounds cut short: too many pings in flight'),
      errors: c('errors', 'Pings that could not be sent or handled'),
    };
    s?.gauge('nathelper', 'contacts_scheduled', {
      help: 'Contacts behind NAT this node pings',
      read: () => this.#slots.size,
    });
  }

  /** Loads the contacts there are now, spread over the first interval, and starts the ticks. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#attach();
    this.#arm();
  }

  /** Stops the ticks and forgets the schedule (a later start() loads it again). */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#detach();
  }

  #attach(): void {
    if (this.#unsubscribe !== undefined) return;
    this.#nextTick = this.#tickOf(this.#clock.now());
    this.#unsubscribe = this.#o.location.onChange((changes) => this.#onChanges(changes));
    this.#loadAll();
  }

  #detach(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#slots.clear();
    this.#wheel.clear();
    this.#backlog = [];
    this.#backlogHead = 0;
  }

  /** Consecutive lost pings of a contact (0 when answered or never pinged). */
  lostPings(contactId: string): number {
    return this.#lost.get(contactId)?.count ?? 0;
  }

  /** Contacts on the wheel (those behind NAT, or every contact with `pingAll`). */
  get scheduled(): number {
    return this.#slots.size;
  }

  /** Does this contact get keep-alives at all (whoever owns it)? */
  needsPing(c: ContactRecord): boolean {
    return this.#o.pingAll === true || isBehindNat(c, this.#natFlags);
  }

  #tickOf(ms: number): number {
    return Math.floor(ms / this.#tickMs);
  }

  #arm(): void {
    const now = this.#clock.now();
    const wait = Math.max(1, (this.#tickOf(now) + 1) * this.#tickMs - now);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#runTick();
      if (this.#running) this.#arm();
    }, wait);
  }

  #place(id: string, slot: Slot, due: number): void {
    slot.due = due;
    let bucket = this.#wheel.get(due);
    if (bucket === undefined) {
      bucket = [];
      this.#wheel.set(due, bucket);
    }
    bucket.push(id);
  }

  #loadAll(): void {
    const list: ContactRecord[] = [];
    for (const c of this.#o.location.allContacts()) if (this.needsPing(c)) list.push(c);
    const first = this.#tickOf(this.#clock.now()) + 1; // the first tick the timer runs
    const n = list.length;
    for (let i = 0; i < n; i++) {
      const c = list[i]!;
      // spread over the first interval, but never sooner than an interval after its last change
      const spread = first + Math.floor((i * this.#ticksPerInterval) / n);
      const fresh = this.#tickOf(c.lastModified + this.#interval);
      const slot: Slot = { aor: c.aor, due: 0 };
      this.#slots.set(c.id, slot);
      this.#place(c.id, slot, Math.max(spread, fresh));
    }
  }

  #onChanges(changes: readonly ContactChange[]): void {
    const now = this.#clock.now();
    for (const ch of changes) {
      const c = ch.contact;
      if (ch.type === 'delete') {
        this.#slots.delete(c.id);
        this.#lost.delete(c.id);
        continue;
      }
      // registered or refreshed (here or on another node): the binding is alive, and its
      // first ping is due one interval from now
      this.#lost.delete(c.id);
      if (!this.needsPing(c)) {
        this.#slots.delete(c.id);
        continue;
      }
      const slot: Slot = { aor: c.aor, due: 0 };
      this.#slots.set(c.id, slot);
      this.#place(c.id, slot, Math.max(this.#tickOf(now + this.#interval), this.#nextTick));
    }
  }

  /**
   * One tick: the contacts due by now are pinged (those this node owns), at most about 1.25×
   * the even share of a tick; the rest wait for the next tick.
   */
  #runTick(): void {
    const now = this.#tickOf(this.#clock.now());
    for (; this.#nextTick <= now; this.#nextTick++) {
      const bucket = this.#wheel.get(this.#nextTick);
      if (bucket === undefined) continue;
      this.#wheel.delete(this.#nextTick);
      for (const id of bucket) {
        const slot = this.#slots.get(id);
        if (slot !== undefined && slot.due === this.#nextTick) this.#backlog.push(id);
      }
    }
    const budget = Math.max(1, Math.ceil((this.#slots.size * 1.25) / this.#ticksPerInterval));
    let sent = 0;
    while (this.#backlogHead < this.#backlog.length && sent < budget) {
      if (this.#inFlight.size >= this.#maxInFlight) {
        this.#c.skipped?.inc();
        break;
      }
      const id = this.#backlog[this.#backlogHead++]!;
      const slot = this.#slots.get(id);
      if (slot === undefined || slot.due > now) continue; // gone, or refreshed since it was due
      const c = this.#o.location.contacts(slot.aor).find((x) => x.id === id);
      if (c === undefined) {
        this.#slots.delete(id);
        continue;
      }
      this.#place(id, slot, now + this.#ticksPerInterval);
      if (!this.#owned(c)) {
        this.#lost.delete(id); // ownership moved: counters restart on the new owner
        continue;
      }
      if (this.#inFlight.has(id)) continue;
      this.#ping(c);
      sent++;
    }
    if (this.#backlogHead === this.#backlog.length) {
      this.#backlog = [];
      this.#backlogHead = 0;
    } else if (this.#backlogHead > 4096 && this.#backlogHead * 2 > this.#backlog.length) {
      this.#backlog = this.#backlog.slice(this.#backlogHead);
      this.#backlogHead = 0;
    }
  }

  #owned(c: ContactRecord): boolean {
    if (this.#o.owns !== undefined) return this.#o.owns(c);
    if (c.shtag === null) return true;
    return this.#o.isTagActive?.(c.shtag) ?? true;
  }

  #ping(c: ContactRecord): void {
    let destination: string;
    try {
      destination = c.path.length > 0 ? parseNameAddr(c.path[0]!).uri : (c.received ?? c.uri);
    } catch {
      this.#c.errors?.inc();
      return;
    }
    const payload = this.#kind === 'crlf' ? Buffer.from('\r\n\r\n') : this.#options(c);
    const sentAt = this.#clock.now();
    this.#inFlight.add(c.id);
    this.#c.sent?.inc();
    let settled = false;
    const settle = (outcome: 'alive' | 'lost' | 'unreachable' | 'error'): void => {
      if (settled) return;
      settled = true;
      this.#clock.clearTimeout(timer);
      this.#inFlight.delete(c.id);
      try {
        this.#result(c, outcome, sentAt);
      } catch (err) {
        // removing the contact failed (store error): count, log, retry on the next lost ping
        this.#c.errors?.inc();
        this.#logger.error({ err, aor: c.aor, contact_id: c.id }, 'nat ping removal failed');
      }
    };
    const timer = this.#clock.setTimeout(() => settle('lost'), this.#timeoutMs);
    const onReply = (reply: PingReply): void => {
      if (reply === undefined) return; // nothing came: the timeout decides
      if ('unreachable' in reply) settle('unreachable');
      else if ('pong' in reply) {
        if (this.#kind === 'crlf') settle('alive');
      } else if (this.#kind === 'options' && reply.status >= 100 && reply.status <= 699) {
        // a 408/480 made by a proxy on the way proves nothing: wait on for the UA
        if (this.#ignore.has(reply.status)) this.#c.ignored?.inc();
        else settle('alive');
      }
    };
    let p: Promise<PingReply>;
    try {
      p = this.#o.send({
        contact: c,
        kind: this.#kind,
        destination,
        socket: c.socket,
        payload,
        timeoutMs: this.#timeoutMs,
      });
    } catch {
      settle('error');
      return;
    }
    p.then(onReply, () => settle('error'));
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

  #result(
    c: ContactRecord,
    outcome: 'alive' | 'lost' | 'unreachable' | 'error',
    sentAt: number,
  ): void {
    if (outcome === 'error') {
      this.#c.errors?.inc();
      return;
    }
    if (outcome === 'alive') {
      this.#c.replied?.inc();
      this.#lost.delete(c.id);
      return;
    }
    this.#c.lost?.inc();
    const current = this.#o.location.contacts(c.aor).find((x) => x.id === c.id);
    if (current === undefined) return; // removed meanwhile
    const losses = this.#lost.get(c.id) ?? { count: 0, since: sentAt };
    if (current.lastModified > losses.since) {
      // refreshed since the first unanswered ping: the UA is alive, whatever the pings say
      this.#lost.delete(c.id);
      return;
    }
    losses.count++;
    this.#lost.set(c.id, losses);
    if (this.#removeAfter <= 0 || losses.count < this.#removeAfter) return;
    const removeFlags = this.#o.removeFlags ?? 0;
    if (removeFlags !== 0 && (current.flags & removeFlags) === 0) return;
    const reason: ChangeReason = outcome === 'unreachable' ? 'ping-unreachable' : 'ping-timeout';
    this.#lost.delete(c.id);
    if (!this.#o.location.removeContact(c.aor, c.id, reason)) return;
    this.#c.removed?.inc();
    (outcome === 'unreachable' ? this.#c.removedUnreachable : this.#c.removedTimeout)?.inc();
    this.#logger.info(
      {
        aor: c.aor,
        contact: c.uri,
        contact_id: c.id,
        pings_lost: losses.count,
        reason,
        node: this.#o.location.nodeId,
        shtag: c.shtag,
      },
      'nat pinger removed an unanswering contact',
    );
  }
}
