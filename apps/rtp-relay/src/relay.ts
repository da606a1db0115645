/**
 * The relay assembled: a MediaEngine on real UDP sockets behind the control sockets. The bin is
 * a thin shell around `startRelay`; tests and the demo can start it in-process too.
 */

import type { RelayConfig } from './config.js';
import { ControlServer, type ControlSpec, formatControlSpec } from './control/server.js';
import { type Clock, systemClock } from './engine/clock.js';
import { MediaEngine } from './engine/engine.js';
import { type Logger, silentLogger } from './engine/logger.js';
import { StreamNotifier } from './engine/notify.js';
import { type MediaTransport, udpMediaTransport } from './engine/transport.js';

export interface Relay {
  readonly engine: MediaEngine;
  readonly control: readonly ControlSpec[];
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
  const server = new ControlServer({
    sockets: config.control,
    logger,
    handler: (cmd, ctx) =>
      engine.handle(
        cmd,
        ctx.remoteAddress === undefined ? {} : { remoteAddress: ctx.remoteAddress },
      ),
  });
  engine.start();
  let control: ControlSpec[];
  try {
    control = await server.start();
  } catch (e) {
    await engine.stop();
    throw e;
  }
  logger.info({ control: control.map(formatControlSpec) }, 'control sockets bound');
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
