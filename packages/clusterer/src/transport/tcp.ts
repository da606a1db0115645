import net from 'node:net';
import tls from 'node:tls';
import { type Logger, noopLogger, plainAddress } from '@sipedge/core';
import { BIN_MAX_PACKET } from '../bin/constants.js';
import { BinFramer } from '../bin/framing.js';
import type { BinAddress } from '../nodes/node-info.js';
import { addressKey } from '../nodes/node-info.js';
import type { BinConnection, BinTransport, TransportHandler } from '../runtime.js';
import { certificateNames } from './cert-names.js';
import { InboundConnections, replyOn } from './inbound.js';

export interface TcpTransportOptions {
  /** Where to listen: `{proto:'bin'|'bins', host, port}`; port 0 picks a free port. */
  listen: BinAddress;
  /** Bind outbound connections to the listen IP, so peers' address checks see it (default true). */
  bindOutbound?: boolean;
  /** Bytes queued per peer before sends fail (default 4 MiB). */
  maxQueueBytes?: number;
  /** Largest packet accepted from the wire (default 65535). */
  maxPacket?: number;
  /** Give up a connect after this many ms (default 2000). */
  connectTimeout?: number;
  /**
   * TLS options for `bins:` (key, cert, ca, rejectUnauthorized...), used on both sides;
   * `requestCert` asks connecting nodes for their certificate.
   */
  tls?: BinTlsOptions;
  logger?: Logger;
  /**
   * Early `auth_check`: connections from hosts this returns false for are closed on accept
   * (counted as `rejected_source`). Leave unset in db_mode=0 when unknown nodes must be able
   * to join by discovery; the Clusterer checks every packet's source anyway.
   */
  acceptFrom?: (host: string) => boolean;
  /**
   * Is `host` a configured node's address? Pending connections from such hosts are not held
   * against `maxPendingUnknown` (default: `acceptFrom`, else no host is).
   */
  nodeHost?: (host: string) => boolean;
  /**
   * Milliseconds an accepted connection may stay pending, i.e. not admitted by the clusterer
   * for a node (its first acceptable packet, or the hello with `auth_secret`), before it is
   * closed (default 5000; counted as `first_packet_timeout`). With `bins:` it also bounds the
   * TLS handshake.
   */
  firstPacketTimeout?: number;
  /** Pending connections held per source address; one more closes the oldest (default 8). */
  maxPendingPerHost?: number;
  /** Pending connections held from addresses that are not nodes'; more are closed (default 128). */
  maxPendingUnknown?: number;
  /** Connections admitted per node; one more closes its least recently active (default 4). */
  maxConnectionsPerNode?: number;
  /** Time to complete one packet once its first byte arrived (default 4000 ms, `tcp_max_msg_time`). */
  maxPacketTime?: number;
  /**
   * Bulk (sync stream) bytes queued per peer before `bulkRoom` turns false (default 4 MiB: it
   * lets a donor run ahead of a receiver that is scheduled unevenly; ordinary packets never
   * wait behind this queue). `sendBulk` itself fails beyond 4 times that.
   */
  bulkQueueBytes?: number;
}

export type BinTlsOptions = tls.SecureContextOptions & {
  rejectUnauthorized?: boolean;
  requestCert?: boolean;
  servername?: string;
  /** Outbound connections: verify the listener's certificate (default: `rejectUnauthorized`). */
  verifyServer?: boolean;
};

/** A refused TLS handshake is logged once per host and minute; every one is counted. */
const TLS_LOG_INTERVAL_MS = 60_000;

interface Outbound {
  to: BinAddress;
  socket: net.Socket;
  open: boolean;
  queue: Buffer[];
  queued: number;
  /** Bulk packets not yet handed to the socket, oldest at `bulkHead`. */
  bulk: Buffer[];
  bulkHead: number;
  bulkBytes: number;
  /** The bulk queue was full or above the mark: tell the handler when it drains. */
  wantDrain: boolean;
}

/** The connection I opened to a peer's listener, as the clusterer sees its packets. */
function outboundConnection(socket: net.Socket): BinConnection {
  let nodeId: number | undefined;
  return {
    outbound: true,
    authenticatedAs: undefined,
    get nodeId() {
      return nodeId;
    },
    admit: (id) => {
      nodeId = id;
    },
    close: () => socket.destroy(),
  };
}

/** Bulk bytes handed to the socket per write; ordinary packets wait behind at most this much. */
const BULK_WRITE = 64 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * proto_bin over TCP (or TLS for `bins:`): one listener, one outbound connection per peer
 * listener, opened on first send and again after it breaks. Incoming streams are framed by
 * BinFramer; a bad marker or length closes that connection. Sends are queued while
 * connecting and bounded in bytes.
 *
 * Two queues per peer: ordinary packets (`send`: pings, pongs, topology, replication) go to
 * the socket at once; bulk packets (`sendBulk`: sync streams) wait in their own queue and are
 * handed to the socket 64 KiB at a time, only while its buffer holds less than that, so an
 * ordinary packet never waits behind more than ~128 KiB of bulk data in this process (the
 * kernel's socket buffers come on top; see the README, "sync streams"). The bulk
 * queue is bounded (`bulkRoom`, `onDrain`), so a donor holds a few hundred KiB of a sync
 * reply, not the whole dataset.
 */
export class TcpBinTransport implements BinTransport {
  #handler: TransportHandler | undefined;
  #server: net.Server | undefined;
  readonly #outbound = new Map<string, Outbound>();
  readonly #inbound: InboundConnections;
  #closed = false;
  readonly #log: Logger;
  readonly #maxQueue: number;
  readonly #maxPacket: number;
  /**
   * Counters: connections (`accepted`, `connects`), refused connections (`rejected_source`,
   * `rejected_pending_full`, `evicted_pending`, `evicted_node_connection`,
   * `first_packet_timeout`, `tls_inbound_refused`, `tls_outbound_refused`,
   * `tls_name_mismatch`), framing errors, queue overflows.
   */
  readonly counters = new Map<string, number>();
  address: BinAddress;

  readonly #options: TcpTransportOptions;
  #tls: BinTlsOptions | undefined;
  /** Host → when its last TLS failure was logged. */
  readonly #tlsLogged = new Map<string, number>();

  constructor(options: TcpTransportOptions) {
    this.#options = options;
    this.#tls = options.tls;
    this.address = { ...options.listen };
    this.#log = options.logger ?? noopLogger;
    this.#maxQueue = options.maxQueueBytes ?? 4 * 1024 * 1024;
    this.#maxPacket = options.maxPacket ?? BIN_MAX_PACKET;
    this.#bulkMark = options.bulkQueueBytes ?? 4 * 1024 * 1024;
    const acceptFrom = options.acceptFrom;
    const nodeHost = options.nodeHost ?? acceptFrom ?? (() => false);
    this.#inbound = new InboundConnections(
      {
        log: this.#log,
        count: (name) => this.#count(name),
        onPacket: (p, source) => this.#handler?.onPacket(p, source),
        acceptFrom,
        nodeHost,
        requestsCertificates: () => this.#tls?.requestCert === true,
      },
      {
        maxPacket: this.#maxPacket,
        maxPacketTime: options.maxPacketTime ?? 4000,
        firstPacketTimeout: options.firstPacketTimeout ?? 5000,
        maxPendingPerHost: options.maxPendingPerHost ?? 8,
        maxPendingUnknown: options.maxPendingUnknown ?? 128,
        maxConnectionsPerNode: options.maxConnectionsPerNode ?? 4,
      },
    );
  }

  /** Accepted connections open now, and how many of them are not admitted yet. */
  get inboundConnections(): { open: number; pending: number } {
    return { open: this.#inbound.size, pending: this.#inbound.pending };
  }

  readonly #bulkMark: number;

  #count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  setHandler(handler: TransportHandler): void {
    this.#handler = handler;
  }

  /** Start listening; resolves with the bound address (the real port when 0 was asked). */
  async listen(): Promise<BinAddress> {
    const onConn = (socket: net.Socket): void => {
      if (this.#closed) socket.destroy();
      else this.#inbound.accept(socket);
    };
    const server =
      this.#options.listen.proto === 'bins'
        ? tls.createServer(
            // the handshake counts against the first-packet deadline
            { ...this.#tls, handshakeTimeout: this.#options.firstPacketTimeout ?? 5000 },
            onConn,
          )
        : net.createServer(onConn);
    this.#server = server;
    if (server instanceof tls.Server) {
      // the TLS socket forgets its peer once a handshake failed: note it when TCP connects
      const peers = new WeakMap<net.Socket, string>();
      server.on('connection', (raw: net.Socket) =>
        peers.set(raw, plainAddress(raw.remoteAddress ?? '')),
      );
      server.on('tlsClientError', (err, socket) => {
        const raw = (socket as { _parent?: net.Socket })._parent;
        const host = socket.remoteAddress ?? (raw === undefined ? undefined : peers.get(raw));
        this.#tlsRefused('inbound', plainAddress(host ?? ''), err);
      });
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.listen.port, this.#options.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.#log.error({ err: e }, 'BIN listener error'));
    const a = server.address();
    if (a !== null && typeof a === 'object') this.address = { ...this.address, port: a.port };
    return this.address;
  }

  send(to: BinAddress, packet: Buffer): boolean {
    if (this.#closed) return false;
    const key = addressKey(to);
    let out = this.#outbound.get(key);
    if (out === undefined) out = this.#connect(key, to);
    if (!out.open) {
      if (out.queued + packet.length > this.#maxQueue) {
        this.#count('queue_overflow');
        return false;
      }
      out.queue.push(packet);
      out.queued += packet.length;
      return true;
    }
    if (out.socket.writableLength + packet.length > this.#maxQueue) {
      this.#count('queue_overflow');
      return false;
    }
    out.socket.write(packet);
    return true;
  }

  /** Queue a sync-stream packet behind the ordinary traffic to `to` (see the class note). */
  sendBulk(to: BinAddress, packet: Buffer): boolean {
    if (this.#closed) return false;
    const key = addressKey(to);
    let out = this.#outbound.get(key);
    if (out === undefined) out = this.#connect(key, to);
    if (out.bulkBytes + packet.length > this.#bulkMark * 4) {
      this.#count('bulk_overflow');
      return false;
    }
    out.bulk.push(packet);
    out.bulkBytes += packet.length;
    if (out.bulkBytes >= this.#bulkMark) out.wantDrain = true;
    this.#flushBulk(out);
    return true;
  }

  /** May another bulk packet toward `to` be queued now? (Else wait for `onDrain`.) */
  bulkRoom(to: BinAddress): boolean {
    const out = this.#outbound.get(addressKey(to));
    if (out === undefined) return true;
    this.#flushBulk(out);
    if (out.bulkBytes < this.#bulkMark) return true;
    out.wantDrain = true;
    return false;
  }

  /** Hand bulk packets to the socket while its buffer is empty; tell the handler on room. */
  #flushBulk(out: Outbound): void {
    if (!out.open || out.socket.destroyed) return;
    while (out.bulkHead < out.bulk.length && out.socket.writableLength < BULK_WRITE) {
      const parts: Buffer[] = [];
      let n = 0;
      while (out.bulkHead < out.bulk.length && n < BULK_WRITE) {
        const b = out.bulk[out.bulkHead] as Buffer;
        out.bulk[out.bulkHead++] = EMPTY;
        parts.push(b);
        n += b.length;
      }
      out.bulkBytes -= n;
      if (out.bulkHead === out.bulk.length) {
        out.bulk = [];
        out.bulkHead = 0;
      } else if (out.bulkHead > 1024) {
        out.bulk = out.bulk.slice(out.bulkHead);
        out.bulkHead = 0;
      }
      this.#count('bulk_writes');
      // the callback runs once this write left our buffer: hand over the next one then
      out.socket.write(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, n), () =>
        this.#flushBulk(out),
      );
    }
    if (out.wantDrain && out.bulkBytes < this.#bulkMark) {
      out.wantDrain = false;
      this.#handler?.onDrain?.(out.to);
    }
  }

  /** Bytes waiting to be written to a peer (for senders that want backpressure). */
  pending(to: BinAddress): number {
    const out = this.#outbound.get(addressKey(to));
    if (out === undefined) return 0;
    return (out.open ? out.socket.writableLength : out.queued) + out.bulkBytes;
  }

  #connect(key: string, to: BinAddress): Outbound {
    this.#count('connects');
    const bind =
      (this.#options.bindOutbound ?? true) &&
      !['0.0.0.0', '::'].includes(this.#options.listen.host);
    const base: net.NetConnectOpts = { host: to.host, port: to.port };
    if (bind) (base as net.TcpNetConnectOpts).localAddress = this.#options.listen.host;
    const socket =
      to.proto === 'bins'
        ? tls.connect({
            ...(base as net.TcpNetConnectOpts),
            ...this.#tls,
            rejectUnauthorized: this.#tls?.verifyServer ?? this.#tls?.rejectUnauthorized ?? true,
            checkServerIdentity: (_host, cert) => this.#checkPeerName(to, cert),
          })
        : net.connect(base as net.TcpNetConnectOpts);
    const out: Outbound = {
      to,
      socket,
      open: false,
      queue: [],
      queued: 0,
      bulk: [],
      bulkHead: 0,
      bulkBytes: 0,
      wantDrain: false,
    };
    socket.on('drain', () => this.#flushBulk(out));
    this.#outbound.set(key, out);
    socket.setNoDelay(true);
    const timer = setTimeout(
      () => socket.destroy(new Error('connect timeout')),
      this.#options.connectTimeout ?? 2000,
    );
    timer.unref();
    socket.once(to.proto === 'bins' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      if (socket.localPort === socket.remotePort && socket.localAddress === socket.remoteAddress) {
        // Linux's TCP self-connect: nobody listens on the peer's port (in the ephemeral
        // range) and the kernel gave it to us as our source port. This is no peer, and the
        // socket holds the port the peer needs to listen on: let it go and try again later
        this.#count('self_connects');
        socket.destroy();
        return;
      }
      out.open = true;
      // the auth hello goes first, before anything queued while connecting
      const hello = this.#handler?.hello?.(to);
      if (hello !== undefined) socket.write(hello);
      const q = out.queue;
      out.queue = [];
      out.queued = 0;
      if (q.length > 0) socket.write(q.length === 1 ? (q[0] as Buffer) : Buffer.concat(q));
      this.#flushBulk(out);
    });
    // we only send on outbound connections; anything the peer writes back is read as BIN too
    const framer = new BinFramer({ maxPacket: this.#maxPacket });
    const source = {
      host: to.host,
      reply: replyOn(socket),
      connection: outboundConnection(socket),
    };
    socket.on('data', (chunk: Buffer) => {
      const r = framer.push(chunk);
      for (const p of r.packets) this.#handler?.onPacket(p, source);
      if (r.error !== undefined) socket.destroy();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#count('outbound_errors');
      // not a socket error (refused, reset…) nor our timeout: the handshake failed, on the
      // peer's certificate or on ours (an alert from the peer)
      if (to.proto === 'bins' && err.syscall === undefined && err.message !== 'connect timeout')
        this.#tlsRefused('outbound', to.host, err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (this.#outbound.get(key) === out) this.#outbound.delete(key);
      if (!this.#closed) this.#handler?.onPeerLost?.(to);
    });
    return out;
  }

  /**
   * New certificates for `bins:` (a renewal): the listener serves them to new connections and
   * connections opened from now on present them; open connections keep theirs.
   */
  setSecureContext(options: BinTlsOptions): void {
    this.#tls = options;
    if (this.#server instanceof tls.Server) this.#server.setSecureContext(options);
  }

  /**
   * `bins:` outbound: the listener's certificate must name the node dialled (its `tls_name`,
   * else the host dialled). The refusal is logged as a refused handshake.
   */
  #checkPeerName(to: BinAddress, cert: tls.PeerCertificate): Error | undefined {
    const name = this.#handler?.peerName?.(to) ?? to.host;
    if (certificateNames(cert, name)) return undefined;
    this.#count('tls_name_mismatch');
    return new Error(`the certificate of ${addressKey(to)} does not name ${name}`);
  }

  #tlsRefused(side: 'inbound' | 'outbound', host: string, err: NodeJS.ErrnoException): void {
    this.#count(`tls_${side}_refused`);
    const now = Date.now();
    const last = this.#tlsLogged.get(host);
    if (last !== undefined && now - last < TLS_LOG_INTERVAL_MS) return;
    if (this.#tlsLogged.size > 1024) this.#tlsLogged.clear();
    this.#tlsLogged.set(host, now);
    this.#log.warn(
      { host, side, err: err.message, ...(err.code === undefined ? {} : { code: err.code }) },
      'BIN TLS handshake refused',
    );
  }

  /**
   * For a graceful stop: resolves once every outbound connection has handed its ordinary
   * packets (replication sent just before the stop) to the kernel and the kernel has sent them,
   * or after `timeoutMs`. Packets still waiting for a connection to open are not waited for;
   * sync streams in progress are abandoned (the receiver retries from another donor).
   */
  async flush(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    const pending = () => {
      for (const o of this.#outbound.values()) {
        if (!o.open || o.socket.destroyed) continue;
        if (o.queue.length > 0 || o.socket.writableLength > 0) return true;
      }
      return false;
    };
    while (pending()) {
      if (Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    // FIN after the data, not a reset: a close with unread input would discard what the
    // kernel still holds for the peer
    const open = [...this.#outbound.values()].filter((o) => o.open && !o.socket.destroyed);
    for (const o of open) o.socket.end();
    await Promise.race([
      Promise.all(
        open.map(
          (o) =>
            new Promise<void>((r) => (o.socket.closed ? r() : o.socket.once('close', () => r()))),
        ),
      ),
      new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()))),
    ]);
    return true;
  }

  /** Close the listener and every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const o of this.#outbound.values()) o.socket.destroy();
    this.#outbound.clear();
    this.#inbound.closeAll();
    const server = this.#server;
    if (server !== undefined) await new Promise<void>((r) => server.close(() => r()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
