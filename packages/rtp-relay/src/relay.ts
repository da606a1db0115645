/**
 * The relay assembled: a MediaEngine on real UDP sockets behind the control sockets. The
 * `sipedge-rtp-relay` bin is a thin shell around `startRelay`; tests and the demo can start it
 * in-process too.
 */
import { type Clock, type Logger, monotonicClock, noopLogger } from '@sipedge/core';
import { RtppServer, type RtppServerStats, serializeCommand } from '@sipedge/rtpp';
import { MediaEngine } from './engine/engine.js';
import { type MediaTransport, udpMediaTransport } from './media/transport.js';
import { StreamNotifier } from './notify/notify.js';

/** What `startRelay` binds, in the words of rtpproxy's flags (in brackets). */
export interface RelayOptions {
  /** Control sockets (`-s`): `udp:host[:port]`, `udp6:…`, `tcp:…`, `unix:/path`, `cunix:/path`. */
  readonly control: readonly string[];
  /** IPv4 media address (`-l`); at least one of ipv4/ipv6 is required. */
  readonly ipv4?: string | undefined;
  /** IPv6 media address (`-6`). */
  readonly ipv6?: string | undefined;
  /** Address printed in U/L replies instead of the bound one (`-A`). */
  readonly advertised?: string | undefined;
  /** Lowest media port (`-m`), default 35000. */
  readonly portMin?: number;
  /** Highest media port (`-M`), default 65000. */
  readonly portMax?: number;
  /** Seconds without traffic before a session is destroyed (`-T`), default 60. */
  readonly ttl?: number;
  /** Notify sockets a U may name (`-n`); none: notify arguments answer E75. */
  readonly notifySockets?: readonly string[];
  /**
   * Addresses and CIDR blocks udp/tcp control commands are taken from (default: loopback only;
   * unix sockets are guarded by their file's permissions).
   */
  readonly allowedSources?: readonly string[] | undefined;
  /** tcp control connections one source may hold, default 16. */
  readonly maxConnectionsPerSource?: number | undefined;
  /** cunix/tcp control connections idle this long (ms) are closed, default 120 s; 0 never. */
  readonly controlIdleTimeoutMs?: number | undefined;
  /** Sessions one command source may hold, default 90% of the port range; 0 no cap. */
  readonly maxSessionsPerSource?: number | undefined;
}

export interface Relay {
  readonly engine: MediaEngine;
  /** The bound control sockets, with real ports (e.g. `udp:127.0.0.1:40123`). */
  readonly control: readonly string[];
  /** The control sockets' counters (refused sources, idle closes, …). */
  controlStats(): RtppServerStats;
  stop(): Promise<void>;
}

export async function startRelay(
  options: RelayOptions,
  deps: { logger?: Logger; clock?: Clock; transport?: MediaTransport } = {},
): Promise<Relay> {
  const logger = deps.logger ?? noopLogger;
  const ipv4 = options.ipv4;
  const ipv6 = options.ipv6;
  const adv = options.advertised;
  const engine = new MediaEngine({
    transport: deps.transport ?? udpMediaTransport,
    clock: deps.clock ?? monotonicClock,
    logger,
    ...(ipv4 === undefined ? {} : { ipv4 }),
    ...(ipv6 === undefined ? {} : { ipv6 }),
    ...(adv !== undefined && !adv.includes(':') ? { advertisedIpv4: adv } : {}),
    ...(adv?.includes(':') ? { advertisedIpv6: adv } : {}),
    ...(options.portMin === undefined ? {} : { portMin: options.portMin }),
    ...(options.portMax === undefined ? {} : { portMax: options.portMax }),
    ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
    ...(options.notifySockets === undefined ? {} : { notifySockets: options.notifySockets }),
    ...(options.maxSessionsPerSource === undefined
      ? {}
      : { maxSessionsPerSource: options.maxSessionsPerSource }),
    notifier: new StreamNotifier({ logger }),
  });
  const server = new RtppServer({
    sockets: options.control,
    logger,
    ...(options.allowedSources === undefined ? {} : { allowedSources: options.allowedSources }),
    ...(options.maxConnectionsPerSource === undefined
      ? {}
      : { maxConnectionsPerSource: options.maxConnectionsPerSource }),
    ...(options.controlIdleTimeoutMs === undefined
      ? {}
      : { idleTimeoutMs: options.controlIdleTimeoutMs }),
    handler: (cmd, ctx) => {
      const remoteAddress = ctx.peer?.address;
      logger.debug(
        {
          event: 'command',
          transport: ctx.transport,
          from: remoteAddress,
          cookie: ctx.cookie,
          command: cmd.raw ?? serializeCommand(cmd),
        },
        'command received',
      );
      return engine.handle(cmd, remoteAddress === undefined ? {} : { remoteAddress });
    },
  });
  engine.start();
  try {
    await server.start();
  } catch (e) {
    await engine.stop();
    throw e;
  }
  const control = server.addresses().map((a) => a.spec);
  logger.info({ control }, 'control sockets bound');
  let stopping: Promise<void> | undefined;
  return {
    engine,
    control,
    controlStats: () => server.stats(),
    stop() {
      stopping ??= (async () => {
        await server.stop();
        await engine.stop();
      })();
      return stopping;
    },
  };
}
