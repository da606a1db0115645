import type { BinAddress } from '../nodes/node-info.js';
import type { BinTransport, TransportHandler } from '../runtime.js';
import type { VirtualClock } from './clock.js';
import type { SeededRandom } from './random.js';

export interface LinkProfile {
  /** One-way delay in ms. */
  delay: number;
  /** Extra uniform random delay in ms (FIFO order per direction is kept, as on TCP). */
  jitter: number;
  /** Probability that a packet resets the connection (it is lost and the sender told). */
  loss: number;
}

const DEFAULT_LINK: LinkProfile = { delay: 1, jitter: 0, loss: 0 };

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/**
 * An in-memory network of hosts in virtual time with TCP-like semantics: per-direction FIFO
 * delivery after a per-link delay; a send to a crashed or absent host fails at once (connection
 * refused); a cut link (partition) silently black-holes packets, including those in flight;
 * `loss` models a connection reset: the packet is lost and the sender learns it.
 */
export class SimNetwork {
  readonly #handlers = new Map<string, TransportHandler>();
  readonly #incarnation = new Map<string, number>();
  readonly #cuts = new Set<string>();
  readonly #profiles = new Map<string, LinkProfile>();
  readonly #lastDelivery = new Map<string, number>();
  readonly #ports = new Map<string, number>();
  /** host → hosts holding an outbound connection to it. */
  readonly #connected = new Map<string, Set<string>>();
  /** Packets handed to the network, delivered, and dropped by cause. */
  readonly stats = { sent: 0, delivered: 0, refused: 0, blackholed: 0, reset: 0 };
  /** Optional tap on every delivered packet (for packet counting in tests). */
  onDeliver: ((from: string, to: string, packet: Buffer) => void) | undefined;
  defaultProfile: LinkProfile = { ...DEFAULT_LINK };

  constructor(
    readonly clock: VirtualClock,
    readonly random: SeededRandom,
  ) {}

  /** A transport for the host `host` (one node's IP); bind it with `up(host)`. */
  transport(host: string, port = 5566): BinTransport {
    this.#ports.set(host, port);
    return {
      setHandler: (h) => {
        this.#handlers.set(host, h);
        this.#incarnation.set(host, (this.#incarnation.get(host) ?? 0) + 1);
      },
      send: (to, packet) => this.#send(host, to, packet),
    };
  }

  isUp(host: string): boolean {
    return this.#handlers.has(host);
  }

  /**
   * The host dies: its handler is gone, packets in flight to and from it are lost, and hosts
   * with a connection to it see that connection close (the kernel resets a dead process's
   * sockets) one link delay later — unless the link is cut.
   */
  crash(host: string): void {
    this.#handlers.delete(host);
    this.#incarnation.set(host, (this.#incarnation.get(host) ?? 0) + 1);
    const port = this.#ports.get(host) ?? 5566;
    for (const peer of this.#connected.get(host) ?? []) {
      if (this.isCut(peer, host)) continue;
      const inc = this.#incarnation.get(peer);
      this.clock.setTimeout(() => {
        if (this.#incarnation.get(peer) !== inc) return;
        this.#handlers.get(peer)?.onPeerLost?.({ proto: 'bin', host, port });
      }, this.profile(peer, host).delay);
    }
    this.#connected.delete(host);
  }

  /** A silent failure (hung process, dead NIC): every link of the host black-holes. */
  isolate(host: string, others: readonly string[]): void {
    for (const o of others) if (o !== host) this.cut(host, o);
  }

  setLink(a: string, b: string, profile: Partial<LinkProfile>): void {
    this.#profiles.set(pairKey(a, b), { ...this.profile(a, b), ...profile });
  }

  profile(a: string, b: string): LinkProfile {
    return this.#profiles.get(pairKey(a, b)) ?? this.defaultProfile;
  }

  cut(a: string, b: string): void {
    this.#cuts.add(pairKey(a, b));
  }

  heal(a: string, b: string): void {
    this.#cuts.delete(pairKey(a, b));
  }

  isCut(a: string, b: string): boolean {
    return this.#cuts.has(pairKey(a, b));
  }

  /** Cut every link between the two groups. */
  partition(left: readonly string[], right: readonly string[]): void {
    for (const a of left) for (const b of right) this.cut(a, b);
  }

  #deliverLater(from: string, to: string, packet: Buffer): boolean {
    this.stats.sent++;
    const handler = this.#handlers.get(to);
    if (handler === undefined || !this.#handlers.has(from)) {
      this.stats.refused++;
      return false;
    }
    const p = this.profile(from, to);
    if (this.isCut(from, to)) {
      this.stats.blackholed++;
      return true;
    }
    if (p.loss > 0 && this.random.next() < p.loss) {
      this.stats.reset++;
      const fromInc = this.#incarnation.get(from);
      const port = this.#ports.get(to) ?? 5566;
      this.clock.setTimeout(() => {
        if (this.#incarnation.get(from) !== fromInc) return;
        this.#handlers.get(from)?.onPeerLost?.({ proto: 'bin', host: to, port });
      }, p.delay);
      return true;
    }
    let conns = this.#connected.get(to);
    if (conns === undefined) {
      conns = new Set();
      this.#connected.set(to, conns);
    }
    conns.add(from);
    const dir = `${from}>${to}`;
    const at = Math.max(
      this.clock.now() + p.delay + (p.jitter > 0 ? this.random.next() * p.jitter : 0),
      this.#lastDelivery.get(dir) ?? 0,
    );
    this.#lastDelivery.set(dir, at);
    const toInc = this.#incarnation.get(to);
    const fromInc = this.#incarnation.get(from);
    this.clock.setTimeout(() => {
      if (
        this.#incarnation.get(to) !== toInc ||
        this.#incarnation.get(from) !== fromInc ||
        this.isCut(from, to)
      ) {
        this.stats.blackholed++;
        return;
      }
      const h = this.#handlers.get(to);
      if (h === undefined) return;
      this.stats.delivered++;
      this.onDeliver?.(from, to, packet);
      h.onPacket(packet, { host: from, reply: (b) => this.#deliverLater(to, from, b) });
    }, at - this.clock.now());
    return true;
  }

  #send(from: string, to: BinAddress, packet: Buffer): boolean {
    return this.#deliverLater(from, to.host, packet);
  }
}
