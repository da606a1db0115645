import dgram from 'node:dgram';
import net from 'node:net';
import { type Logger, noopLogger } from '@sipedge/core';
import { MiParamsError } from '../errors.js';
import type { StatisticsRegistry } from '../stats/registry.js';
import type { EventParams, EventSink } from './bus.js';
import { eventPayload } from './bus.js';

/** event_datagram's limit. */
export const MAX_EVENT_DATAGRAM = 65457;

export interface EventSocketAddress {
  proto: 'udp' | 'tcp';
  host: string;
  port: number;
  /** tcp only: `tcp:host:port/method` sends notifications with this method name. */
  method?: string;
}

/**
 * Parse an OpenSIPS subscriber socket: `udp:IP:port`, `tcp:host:port[/method]` (IPv6 hosts in
 * brackets). Throws `MiParamsError` for anything else.
 */
export function parseEventSocket(socket: string): EventSocketAddress {
  const m =
    /^(udp|tcp):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})(?:\/([A-Za-z0-9_.:-]{1,64}))?$/.exec(
      socket,
    );
  if (m === null) throw new MiParamsError(`bad event socket '${socket}'`);
  const proto = m[1] as 'udp' | 'tcp';
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new MiParamsError(`bad port in '${socket}'`);
  if (proto === 'udp' && m[4] !== undefined) throw new MiParamsError('udp sockets take no method');
  const host = m[2]!.replace(/^\[|\]$/g, '');
  const out: EventSocketAddress = { proto, host, port };
  if (m[4] !== undefined) out.method = m[4];
  return out;
}

/** Makes sinks for `event_subscribe` sockets; injected so tests and apps can replace it. */
export type EventSocketFactory = (socket: string) => EventSink;

export interface SocketSinkOptions {
  logger?: Logger;
  /** A tcp sink drops events while this many bytes wait to be written (default 1 MiB). */
  maxQueuedBytes?: number;
  /** Events dropped (oversize datagram, slow stream peer) are counted in `events:socket_dropped`. */
  stats?: StatisticsRegistry;
}

/** The default factory: UDP datagrams (event_datagram) and a TCP stream (event_stream). */
export function createSocketSinkFactory(options: SocketSinkOptions = {}): EventSocketFactory {
  const logger = options.logger ?? noopLogger;
  const maxQueued = options.maxQueuedBytes ?? 1024 * 1024;
  const dropped = options.stats?.counter(
    'events',
    'socket_dropped',
    'Events not sent to a udp/tcp subscriber: too big for a datagram or its queue full',
  );
  const drop = (): void => dropped?.inc();
  return (socket: string): EventSink => {
    const addr = parseEventSocket(socket);
    if (addr.proto === 'udp') return udpSink(socket, addr, logger, drop);
    return tcpSink(socket, addr, logger, maxQueued, drop);
  };
}

function udpSink(
  socket: string,
  addr: EventSocketAddress,
  logger: Logger,
  drop: () => void,
): EventSink {
  const type = net.isIPv6(addr.host) ? 'udp6' : 'udp4';
  let sock: dgram.Socket | undefined;
  return {
    socket,
    deliver(text) {
      const buf = Buffer.from(text, 'utf8');
      if (buf.length > MAX_EVENT_DATAGRAM) {
        drop(); // too big for a datagram: this event is skipped, the subscriber stays
        return true;
      }
      if (sock === undefined) {
        sock = dgram.createSocket(type);
        sock.on('error', (err) => logger.warn({ err, socket }, 'event datagram error'));
        sock.unref();
      }
      sock.send(buf, addr.port, addr.host);
      return true;
    },
    close() {
      sock?.close();
      sock = undefined;
    },
  };
}

function tcpSink(
  socket: string,
  addr: EventSocketAddress,
  logger: Logger,
  maxQueued: number,
  drop: () => void,
): EventSink {
  let conn: net.Socket | undefined;
  const open = (): net.Socket => {
    const c = net.connect({ host: addr.host, port: addr.port });
    c.setNoDelay(true);
    c.unref();
    c.on('error', (err) => logger.warn({ err, socket }, 'event stream error'));
    c.on('close', () => {
      if (conn === c) conn = undefined;
    });
    // replies (reliable mode) are read and ignored
    c.on('data', () => {});
    return c;
  };
  return {
    socket,
    deliver(text: string, _event: string, params: EventParams) {
      const body = addr.method === undefined ? text : eventPayload(addr.method, params);
      conn ??= open();
      if (conn.writableLength > maxQueued) {
        drop(); // peer slow: this event is dropped, the subscriber stays
        return true;
      }
      conn.write(body);
      return true;
    },
    close() {
      conn?.destroy();
      conn = undefined;
    },
  };
}
