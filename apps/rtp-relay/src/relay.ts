/**
 * The relay assembled: a MediaEngine on real UDP sockets behind the control sockets. The bin is
 * a thin shell around `startRelay`; tests and the demo can start it in-process too.
 */
import { RtppServer, serializeCommand } from '@sipedge/rtpp';
import type { RelayConfig } from './config.js';
import { type Clock, systemClock } from './engine/clock.js';
import { MediaEngine } from './engine/engine.js';
import { type Logger, silentLogger } from './engine/logger.js';
import { StreamNotifier } from './engine/notify.js';
import { type MediaTransport, udpMediaTransport } from './engine/transport.js';

export interface Relay {
  readonly engine: MediaEngine;
  /** The bound control sockets, with real ports (e.g. `udp:127.0.0.1:40123`). */
  readonly control: readonly string[];
  stop(): Promise<void>;
}

export async function startRelay(
  config: RelayConfig,
  deps: { logger?: Logger; clock?: Clock; transport?: MediaTransport } = {},
): Promise<Relay> {
  const logger = deps.logger ?? silentLogger;
  const ipv4 = config.ipv4;
  const ipv6 = config.ipv6;
  const adv = config.advertised;
  const engine = new MediaEngine({
    transport: deps.transport ?? udpMediaTransport,
    clock: deps.clock ?? systemClock,
    logger,
    ...(ipv4 === undefined ? {} : { ipv4 }),
    ...(ipv6 === undefined ? {} : { ipv6 }),
    ...(adv !== undefined && !adv.includes(':') ? { advertisedIpv4: adv } : {}),
    ...(adv?.includes(':') ? { advertisedIpv6: adv } : {}),
    portMin: config.portMin,
    portMax: config.portMax,
    ttl: config.ttl,
    notifySockets: config.notifySockets,
    notifier: new StreamNotifier({ logger }),
  });
  const server = new RtppServer({
    sockets: config.control,
    logger,
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
    stop() {
      stopping ??= (async () => {
        await server.stop();
        await engine.stop();
      })();
      return stopping;
    },
  };
}
