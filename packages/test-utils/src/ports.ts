/**
 * Ports for programs that must be told their port before they start, because they cannot
 * listen on port 0 and report what they got: Kamailio, sipp, rtpengine, and cluster members
 * whose addresses the others are configured with up front. Everything that can listen on port 0
 * does so instead.
 *
 * The guarantee: no two processes on the machine that take ports here get the same port while
 * both live, and one process never gets a port twice. How:
 * - The window, 10000–11999, lies below Linux's ephemeral range (32768–60999 by default). The
 *   kernel never gives one of its ports to a bind on port 0 or to the source of an outgoing
 *   connection, so a port handed out stays free until its program binds it, and a connection to
 *   a peer not listening yet cannot connect to itself. No test puts a relay's media ports there
 *   (they start at 12000).
 * - The window is cut into blocks. A process leases a block by listening on the block's first
 *   port for as long as it lives: the kernel makes that lease exclusive and ends it when the
 *   process exits, however it exits. Vitest workers, runs in other checkouts and benchmark
 *   scripts thus take disjoint blocks, with no lock files to go stale.
 * - A process hands out its blocks' other ports in order, never twice, each checked free over UDP
 *   and TCP on 127.0.0.1 first, so a port something else holds is passed over.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface PortWindow {
  /** First port of the window. */
  readonly first: number;
  /** One past the last port. */
  readonly end: number;
  /** Ports per block, the lease port included. */
  readonly block: number;
}

export const PEER_PORT_WINDOW: PortWindow = Object.freeze({
  first: 10_000,
  end: 12_000,
  block: 50,
});

function bindUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function listenTcp(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

async function isFree(port: number): Promise<boolean> {
  if (!(await bindUdp(port))) return false;
  const server = await listenTcp(port);
  if (server === undefined) return false;
  await new Promise<void>((r) => server.close(() => r()));
  return true;
}

interface Lease {
  readonly holder: net.Server;
  next: number;
  readonly end: number;
}

/** Leases blocks of a window and hands out their ports; `peerPort()` uses one per process. */
export class PeerPorts {
  readonly #window: PortWindow;
  readonly #leases: Lease[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  constructor(window: PortWindow = PEER_PORT_WINDOW) {
    this.#window = window;
  }

  /** The first ports of the blocks this instance holds. */
  get blocks(): number[] {
    return this.#leases.map((l) => l.end - this.#window.block);
  }

  /** A port, and the `span - 1` ports after it, free now and never handed out before. */
  async take(span = 1): Promise<number> {
    if (!Number.isInteger(span) || span < 1 || span >= this.#window.block) {
      throw new RangeError(`span ${span}: 1 to ${this.#window.block - 1} ports`);
    }
    const taken = this.#queue.then(() => this.#take(span));
    this.#queue = taken.catch(() => {});
    return taken;
  }

  /** Ends the leases (the process's exit does it too). */
  async release(): Promise<void> {
    const leases = this.#leases.splice(0);
    await Promise.all(leases.map((l) => new Promise<void>((r) => l.holder.close(() => r()))));
  }

  async #take(span: number): Promise<number> {
    for (;;) {
      const lease = this.#leases.at(-1);
      while (lease !== undefined && lease.next + span <= lease.end) {
        const first = lease.next;
        lease.next += span;
        let free = true;
        for (let p = first; p < first + span && free; p++) free = await isFree(p);
        if (free) return first;
      }
      this.#leases.push(await this.#lease());
    }
  }

  async #lease(): Promise<Lease> {
    const { first, end, block } = this.#window;
    const count = Math.floor((end - first) / block);
    const start = process.pid % count;
    const mine = new Set(this.blocks);
    for (let i = 0; i < count; i++) {
      const at = first + ((start + i) % count) * block;
      if (mine.has(at)) continue;
      const holder = await listenTcp(at);
      if (holder === undefined) continue;
      holder.unref();
      return { holder, next: at + 1, end: at + block };
    }
    throw new Error(
      `no free block of ${block} ports in ${first}–${end - 1}: every one is leased or held`,
    );
  }
}

const shared = new PeerPorts();

/**
 * A port for a program that must be told it before it starts (see the top of this file for
 * the guarantee). `span` reserves that many consecutive ports: sipp's `-mp` binds the port and
 * the one two above it.
 */
export function peerPort(options: { span?: number } = {}): Promise<number> {
  return shared.take(options.span ?? 1);
}
