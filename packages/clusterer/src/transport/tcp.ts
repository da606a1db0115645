import net from 'node:net';
import tls from 'node:tls';
import { BIN_MAX_PACKET } from '../bin/constants.js';
import { BinFramer } from '../bin/framing.js';
import type { BinAddress } from '../cluster/node-info.js';
import { addressKey } from '../cluster/node-info.js';
import { type BinTransport, type Logger, noopLogger, type TransportHandler } from '../runtime.js';

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
  /** TLS options for `bins:` (key, cert, ca, rejectUnauthorized...), used on both sides. */
  tls?: tls.SecureContextOptions & { rejectUnauthorized?: boolean; servername?: string };
  logger?: Logger;
  /**
   * Early `auth_check`: connections from hosts this returns false for are closed on accept
   * (counted as `rejected_source`). Leave unset in db_mode=0 when unknown nodes must be able
   * to join by discovery; the Clusterer checks every packet's source anyway.
   */
  acceptFrom?: (host: string) => boolean;
  /** Inbound connections held at once (default 512); more are closed on accept. */
  maxInbound?: number;
  /** Time to complete one packet once its first byte arrived (default 4000 ms, `tcp_max_msg_time`). */
  maxPacketTime?: number;
}

interface Outbound {
  socket: net.Socket;
  open: boolean;
  queue: Buffer[];
  queued: number;
}

function plainHost(h: string | undefined): string {
  if (h === undefined) return '';
  return h.startsWith('::ffff:') && h.includes('.') ? h.slice(7) : h;
}

/**
 * proto_bin over TCP (or TLS for `bins:`): one listener, one outbound connection per peer
 * listener, opened on first send and again after it breaks. Incoming streams are framed by
 * BinFramer; a bad marker or length closes that connection. Sends are queued while
 * connecting and bounded in bytes.
 */
export class TcpBinTransport implements BinTransport {
  private handler: TransportHandler | undefined;
  private server: net.Server | undefined;
  private readonly outbound = new Map<string, Outbound>();
  private readonly inbound = new Set<net.Socket>();
  private closed = false;
  private readonly log: Logger;
  private readonly maxQueue: number;
  private readonly maxPacket: number;
  /** Counters: connections, framing errors, queue overflows. */
  readonly counters = new Map<string, number>();
  address: BinAddress;

  constructor(private readonly options: TcpTransportOptions) {
    this.address = { ...options.listen };
    this.log = options.logger ?? noopLogger;
    this.maxQueue = options.maxQueueBytes ?? 4 * 1024 * 1024;
    this.maxPacket = options.maxPacket ?? BIN_MAX_PACKET;
  }

  private count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  setHandler(handler: TransportHandler): void {
    this.handler = handler;
  }

  /** Start listening; resolves with the bound address (the real port when 0 was asked). */
  async listen(): Promise<BinAddress> {
    const onConn = (socket: net.Socket): void => this.accept(socket);
    const server =
      this.options.listen.proto === 'bins'
        ? tls.createServer({ ...this.options.tls }, onConn)
        : net.createServer(onConn);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listen.port, this.options.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.error({ err: e }, 'BIN listener error'));
    const a = server.address();
    if (a !== null && typeof a === 'object') this.address = { ...this.address, port: a.port };
    return this.address;
  }

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const host = plainHost(socket.remoteAddress);
    if (this.options.acceptFrom !== undefined && !this.options.acceptFrom(host)) {
      this.count('rejected_source');
      socket.destroy();
      return;
    }
    if (this.inbound.size >= (this.options.maxInbound ?? 512)) {
      this.count('rejected_too_many');
      socket.destroy();
      return;
    }
    this.count('accepted');
    this.inbound.add(socket);
    const framer = new BinFramer({ maxPacket: this.maxPacket });
    let partial: ReturnType<typeof setTimeout> | undefined;
    socket.setNoDelay(true);
    const reply = (b: Buffer): boolean => {
      if (socket.destroyed) return false;
      socket.write(b);
      return true;
    };
    socket.on('data', (chunk: Buffer) => {
      const r = framer.push(chunk);
      for (const p of r.packets) this.handler?.onPacket(p, { host, reply });
      if (r.error !== undefined) {
        this.count(`framing_${r.error.reason}`);
        this.log.warn({ host, reason: r.error.reason }, 'closing BIN connection on bad data');
        socket.destroy();
        return;
      }
      // a packet left incomplete must be finished within maxPacketTime
      if (framer.buffered === 0) {
        if (partial !== undefined) clearTimeout(partial);
        partial = undefined;
      } else if (partial === undefined) {
        partial = setTimeout(() => {
          this.count('framing_timeout');
          socket.destroy();
        }, this.options.maxPacketTime ?? 4000);
        partial.unref();
      }
    });
    socket.on('error', () => this.count('inbound_errors'));
    socket.on('close', () => {
      if (partial !== undefined) clearTimeout(partial);
      this.inbound.delete(socket);
    });
  }

  send(to: BinAddress, packet: Buffer): boolean {
    if (this.closed) return false;
    const key = addressKey(to);
    let out = this.outbound.get(key);
    if (out === undefined) out = this.connect(key, to);
    if (!out.open) {
      if (out.queued + packet.length > this.maxQueue) {
        this.count('queue_overflow');
        return false;
      }
      out.queue.push(packet);
      out.queued += packet.length;
      return true;
    }
    if (out.socket.writableLength + packet.length > this.maxQueue) {
      this.count('queue_overflow');
      return false;
    }
    out.socket.write(packet);
    return true;
  }

  /** Bytes waiting to be written to a peer (for senders that want backpressure). */
  pending(to: BinAddress): number {
    const out = this.outbound.get(addressKey(to));
    if (out === undefined) return 0;
    return out.open ? out.socket.writableLength : out.queued;
  }

  private connect(key: string, to: BinAddress): Outbound {
    this.count('connects');
    const bind =
      (this.options.bindOutbound ?? true) && !['0.0.0.0', '::'].includes(this.options.listen.host);
    const base: net.NetConnectOpts = { host: to.host, port: to.port };
    if (bind) (base as net.TcpNetConnectOpts).localAddress = this.options.listen.host;
    const socket =
      to.proto === 'bins'
        ? tls.connect({ ...(base as net.TcpNetConnectOpts), ...this.options.tls })
        : net.connect(base as net.TcpNetConnectOpts);
    const out: Outbound = { socket, open: false, queue: [], queued: 0 };
    this.outbound.set(key, out);
    socket.setNoDelay(true);
    const timer = setTimeout(
      () => socket.destroy(new Error('connect timeout')),
      this.options.connectTimeout ?? 2000,
    );
    timer.unref();
    socket.once(to.proto === 'bins' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      out.open = true;
      const q = out.queue;
      out.queue = [];
      out.queued = 0;
      if (q.length > 0) socket.write(q.length === 1 ? (q[0] as Buffer) : Buffer.concat(q));
    });
    // we only send on outbound connections; anything the peer writes back is read as BIN too
    const framer = new BinFramer({ maxPacket: this.maxPacket });
    const reply = (b: Buffer): boolean => {
      if (socket.destroyed) return false;
      socket.write(b);
      return true;
    };
    socket.on('data', (chunk: Buffer) => {
      const r = framer.push(chunk);
      for (const p of r.packets) this.handler?.onPacket(p, { host: to.host, reply });
      if (r.error !== undefined) socket.destroy();
    });
    socket.on('error', () => this.count('outbound_errors'));
    socket.on('close', () => {
      clearTimeout(timer);
      if (this.outbound.get(key) === out) this.outbound.delete(key);
      if (!this.closed) this.handler?.onPeerLost?.(to);
    });
    return out;
  }

  /** Close the listener and every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const o of this.outbound.values()) o.socket.destroy();
    this.outbound.clear();
    for (const s of this.inbound) s.destroy();
    this.inbound.clear();
    const server = this.server;
    if (server !== undefined) await new Promise<void>((r) => server.close(() => r()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
