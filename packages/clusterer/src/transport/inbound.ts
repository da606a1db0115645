import type net from 'node:net';
import tls from 'node:tls';
import { type Logger, LogLimiter, plainAddress } from '@sipedge/core';
import { BinFramer } from '../bin/framing.js';
import type { BinConnection, PacketSource } from '../runtime.js';
import { certificateNames } from './cert-names.js';

/** The budgets of accepted connections (see `TcpTransportOptions` for each). */
export interface InboundLimits {
  readonly maxPacket: number;
  readonly maxPacketTime: number;
  readonly firstPacketTimeout: number;
  readonly maxPendingPerHost: number;
  readonly maxPendingUnknown: number;
  readonly maxConnectionsPerNode: number;
}

/** What the accepted connections report to their transport. */
export interface InboundHost {
  readonly log: Logger;
  count(name: string): void;
  onPacket(packet: Buffer, source: PacketSource): void;
  /** Connections from hosts this returns false for are closed on accept. */
  acceptFrom: ((host: string) => boolean) | undefined;
  /** Is `host` the address of a configured node? (Its pending connections have their own budget.) */
  nodeHost(host: string): boolean;
  /**
   * Does the `bins:` listener ask for client certificates? Only then is a connection's
   * certificate checked against the node it is admitted for (`verify_client: none` leaves
   * node identity to the address).
   */
  requestsCertificates(): boolean;
}

/** Answers on the connection a packet came in on, while it is open. */
export function replyOn(socket: net.Socket): (packet: Buffer) => boolean {
  return (packet) => {
    if (socket.destroyed) return false;
    socket.write(packet);
    return true;
  };
}

class InboundConnection implements BinConnection {
  readonly outbound = false;
  authenticatedAs: number | undefined;
  /** When its last bytes arrived (`performance.now()`). */
  lastActive = performance.now();
  deadline: ReturnType<typeof setTimeout> | undefined;
  #nodeId: number | undefined;
  readonly namesPeer: ((name: string) => boolean) | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly host: string,
    /** The host is a configured node's address. */
    readonly fromNodeHost: boolean,
    readonly pool: InboundConnections,
    checkNames: boolean,
  ) {
    if (checkNames && socket instanceof tls.TLSSocket) {
      this.namesPeer = (name) =>
        socket.authorized && certificateNames(socket.getPeerCertificate(), name);
    }
  }

  get nodeId(): number | undefined {
    return this.#nodeId;
  }

  admit(nodeId: number): void {
    if (this.#nodeId === nodeId || this.socket.destroyed) return;
    this.#nodeId = nodeId;
    this.pool.admitted(this, nodeId);
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * The connections a BIN listener accepted, with budgets no flood from one address can use up
 * for the others. A connection is *pending* until the clusterer admits it for a node (its first
 * acceptable packet): pending ones are closed after `firstPacketTimeout`, at most
 * `maxPendingPerHost` are held per source address (a new one closes that address's oldest, so
 * a node on a flooded host still gets in), and at most `maxPendingUnknown` from addresses that
 * are not nodes' (beyond that, new ones from such addresses are closed). An admitted node holds
 * at most `maxConnectionsPerNode` (a new one closes its least recently active).
 */
export class InboundConnections {
  readonly #host: InboundHost;
  readonly #limits: InboundLimits;
  readonly #all = new Set<InboundConnection>();
  /** Pending connections by source address, oldest first. */
  readonly #pending = new Map<string, Set<InboundConnection>>();
  #pendingUnknown = 0;
  readonly #byNode = new Map<number, Set<InboundConnection>>();
  readonly #logLimit = new LogLimiter({ maxKeys: 4096 });

  constructor(host: InboundHost, limits: InboundLimits) {
    this.#host = host;
    this.#limits = limits;
  }

  get size(): number {
    return this.#all.size;
  }

  get pending(): number {
    let n = 0;
    for (const s of this.#pending.values()) n += s.size;
    return n;
  }

  /** Count, and log at most once a minute per address and reason. */
  #refuse(reason: string, host: string, extra: Record<string, unknown> = {}): void {
    this.#host.count(reason);
    const suppressed = this.#logLimit.admit(`${host} ${reason}`);
    if (suppressed === undefined) return;
    this.#host.log.warn(
      { peer: host, reason, ...extra, ...(suppressed > 0 ? { suppressed } : {}) },
      `BIN connection from ${host} closed: ${reason.replaceAll('_', ' ')}`,
    );
  }

  accept(socket: net.Socket): void {
    const host = plainAddress(socket.remoteAddress ?? '');
    const h = this.#host;
    if (h.acceptFrom !== undefined && !h.acceptFrom(host)) {
      this.#refuse('rejected_source', host);
      socket.destroy();
      return;
    }
    const fromNodeHost = h.nodeHost(host);
    if (!fromNodeHost && this.#pendingUnknown >= this.#limits.maxPendingUnknown) {
      this.#refuse('rejected_pending_full', host);
      socket.destroy();
      return;
    }
    let pending = this.#pending.get(host);
    if (pending === undefined) {
      pending = new Set();
      this.#pending.set(host, pending);
    }
    if (pending.size >= this.#limits.maxPendingPerHost) {
      const oldest = pending.values().next().value;
      if (oldest !== undefined) {
        this.#unpend(oldest);
        this.#refuse('evicted_pending', host);
        oldest.close();
      }
    }
    h.count('accepted');
    const conn = new InboundConnection(socket, host, fromNodeHost, this, h.requestsCertificates());
    this.#all.add(conn);
    pending.add(conn);
    if (!fromNodeHost) this.#pendingUnknown++;
    conn.deadline = setTimeout(() => {
      this.#refuse('first_packet_timeout', host);
      socket.destroy();
    }, this.#limits.firstPacketTimeout);
    conn.deadline.unref();
    this.#read(conn);
  }

  /** Frame the connection's bytes into packets for the host; a bad stream closes it. */
  #read(conn: InboundConnection): void {
    const { socket, host } = conn;
    const framer = new BinFramer({ maxPacket: this.#limits.maxPacket });
    let partial: ReturnType<typeof setTimeout> | undefined;
    socket.setNoDelay(true);
    const source: PacketSource = { host, reply: replyOn(socket), connection: conn };
    socket.on('data', (chunk: Buffer) => {
      conn.lastActive = performance.now();
      const r = framer.push(chunk);
      for (const p of r.packets) {
        if (socket.destroyed) break;
        this.#host.onPacket(p, source);
      }
      if (r.error !== undefined) {
        this.#refuse(`framing_${r.error.reason}`, host);
        socket.destroy();
        return;
      }
      // a packet left incomplete must be finished within maxPacketTime (counted per packet:
      // in a long stream almost every read ends inside a packet)
      if (framer.buffered === 0 || r.packets.length > 0) {
        if (partial !== undefined) clearTimeout(partial);
        partial = undefined;
      }
      if (framer.buffered > 0 && partial === undefined && !socket.destroyed) {
        partial = setTimeout(() => {
          this.#refuse('framing_timeout', host);
          socket.destroy();
        }, this.#limits.maxPacketTime);
        partial.unref();
      }
    });
    socket.on('error', () => this.#host.count('inbound_errors'));
    socket.on('close', () => {
      if (partial !== undefined) clearTimeout(partial);
      this.#forget(conn);
    });
  }

  /** The clusterer admitted `conn` for `nodeId`: it leaves the pending budget. */
  admitted(conn: InboundConnection, nodeId: number): void {
    this.#unpend(conn);
    let mine = this.#byNode.get(nodeId);
    if (mine === undefined) {
      mine = new Set();
      this.#byNode.set(nodeId, mine);
    }
    mine.add(conn);
    if (mine.size <= this.#limits.maxConnectionsPerNode) return;
    let idlest: InboundConnection | undefined;
    for (const c of mine) {
      if (c !== conn && (idlest === undefined || c.lastActive < idlest.lastActive)) idlest = c;
    }
    if (idlest === undefined) return;
    mine.delete(idlest);
    this.#refuse('evicted_node_connection', conn.host, { node: nodeId });
    idlest.close();
  }

  #unpend(conn: InboundConnection): void {
    if (conn.deadline !== undefined) clearTimeout(conn.deadline);
    conn.deadline = undefined;
    const set = this.#pending.get(conn.host);
    if (set?.delete(conn) !== true) return;
    if (set.size === 0) this.#pending.delete(conn.host);
    if (!conn.fromNodeHost) this.#pendingUnknown--;
  }

  #forget(conn: InboundConnection): void {
    this.#unpend(conn);
    this.#all.delete(conn);
    const id = conn.nodeId;
    if (id === undefined) return;
    const mine = this.#byNode.get(id);
    mine?.delete(conn);
    if (mine?.size === 0) this.#byNode.delete(id);
  }

  /** Close every connection. */
  closeAll(): void {
    for (const c of this.#all) c.socket.destroy();
  }
}
