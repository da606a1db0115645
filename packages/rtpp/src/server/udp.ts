/**
 * RtppServer's udp and udp6 sockets: each datagram's command goes to the dispatch and its reply
 * back to the sender with the cookie. The retransmit cache is wired here: a retransmit is
 * answered from it (or dropped while its first copy is being handled) without a dispatch.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { type Clock, type Logger, literalFirstLookup } from '@sipedge/core';
import { RtppSocketError } from '../errors.js';
import { decodeCommandDatagram, encodeReplyDatagram } from '../framing/datagram.js';
import type { RtppInetSocketSpec } from '../framing/socket-spec.js';
import { RtppErrorCode } from '../types.js';
import type { CommandDispatch, ServerCounters } from './dispatch.js';
import type { RtppRequestContext } from './options.js';
import { type ReplyCache, senderCookieHash } from './reply-cache.js';
import type { SourcePolicy } from './sources.js';

/** What a UDP listener shares with the server. */
export interface UdpListenerParts {
  readonly dispatch: CommandDispatch;
  readonly counters: ServerCounters;
  readonly cache: ReplyCache;
  readonly clock: Clock;
  readonly log: Logger;
  readonly sources: SourcePolicy;
  /** Largest datagram accepted. */
  readonly maxDatagram: number;
}

/** One udp or udp6 socket of the server. */
export class UdpListener {
  readonly #spec: RtppInetSocketSpec;
  readonly #configured: string;
  readonly #socket: UdpSocket;
  readonly #dispatch: CommandDispatch;
  readonly #counters: ServerCounters;
  readonly #cache: ReplyCache;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #sources: SourcePolicy;
  readonly #maxDatagram: number;

  constructor(spec: RtppInetSocketSpec, configured: string, parts: UdpListenerParts) {
    this.#spec = spec;
    this.#configured = configured;
    this.#dispatch = parts.dispatch;
    this.#counters = parts.counters;
    this.#cache = parts.cache;
    this.#clock = parts.clock;
    this.#log = parts.log;
    this.#sources = parts.sources;
    this.#maxDatagram = parts.maxDatagram;
    this.#socket = createSocket({
      type: spec.transport === 'udp' ? 'udp4' : 'udp6',
      lookup: literalFirstLookup,
    });
  }

  /** Binds the socket (RtppSocketError if it cannot), then answers its datagrams. */
  async bind(): Promise<void> {
    const sock = this.#socket;
    const spec = this.#spec;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) =>
        reject(new RtppSocketError(`cannot bind ${this.#configured}: ${e.message}`, { cause: e }));
      sock.once('error', onError);
      sock.bind({ port: spec.port, address: spec.host, exclusive: true }, () => {
        sock.off('error', onError);
        resolve();
      });
    });
    sock.on('error', (e) =>
      this.#log.warn({ socket: this.#configured, err: e.message }, 'udp error'),
    );
    sock.on('message', (msg, rinfo) => this.#onDatagram(msg, rinfo));
  }

  /** The bound address; throws when the socket is not bound. */
  address(): AddressInfo {
    return this.#socket.address();
  }

  close(): void {
    try {
      this.#socket.close();
    } catch {
      // already closed
    }
  }

  #onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (!this.#dispatch.accepting) return;
    if (!this.#sources.allows(rinfo.address)) {
      this.#counters.refusedSources++;
      this.#sources.warn(
        rinfo.address,
        { socket: this.#configured },
        'rtpp command dropped: source not in allowed_sources',
      );
      return;
    }
    const frame = decodeCommandDatagram(msg, this.#maxDatagram);
    const sock = this.#socket;
    const send = (buf: Buffer): void => {
      this.#counters.replied++;
      // no callback: send errors arrive as 'error' events (logged)
      sock.send(buf, rinfo.port, rinfo.address);
    };
    switch (frame.kind) {
      case 'oversize':
        this.#counters.oversize++;
        this.#log.debug(
          { socket: this.#configured, size: frame.size, from: rinfo.address },
          'oversize datagram dropped',
        );
        return;
      case 'empty':
        this.#counters.received++;
        this.#counters.errors++;
        send(encodeReplyDatagram(undefined, `E${RtppErrorCode.PARSE_1}\n`));
        return;
      case 'no-command':
        this.#counters.received++;
        this.#counters.errors++;
        send(encodeReplyDatagram(frame.cookie, `E${RtppErrorCode.PARSE_1}\n`));
        return;
      case 'command':
        break;
    }
    const cookie = frame.cookie;
    const key = senderCookieHash(rinfo.address, rinfo.port, cookie);
    const now = this.#clock.now();
    const hit = this.#cache.lookup(key, cookie, now);
    if (hit !== undefined) {
      this.#counters.received++;
      if (hit === null) {
        this.#counters.inProgressDrops++;
      } else {
        this.#counters.duplicates++;
        send(Buffer.from(hit, 'latin1'));
      }
      return;
    }
    const token = this.#cache.begin(key, cookie, now);
    const ctx: RtppRequestContext = {
      transport: this.#spec.transport,
      socket: this.#configured,
      peer: { address: rinfo.address, port: rinfo.port },
      cookie,
    };
    this.#dispatch.dispatch(frame.body, ctx, (body) => {
      const buf = Buffer.from(`${cookie} ${body}`, 'latin1');
      // the cache copies the bytes into its arena: no string of the reply outlives this turn
      this.#cache.complete(key, buf, token);
      send(buf);
    });
  }
}
