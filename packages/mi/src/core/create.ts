import { type Clock, type Logger, noopLogger, systemClock } from '@sipedge/core';
import { EventBus } from '../events/bus.js';
import { createSocketSinkFactory, type EventSocketFactory } from '../events/sockets.js';
import { MiRegistry } from '../registry.js';
import { StatisticsRegistry } from '../stats/registry.js';
import { StatusReportRegistry } from '../status/registry.js';
import { coreCommands, type LogLevelControl } from './commands.js';

export interface MiCoreOptions {
  clock?: Pick<Clock, 'now'>;
  logger?: Logger;
  server?: string;
  version?: string;
  logLevel?: LogLevelControl;
  /** Sinks for `event_subscribe` udp:/tcp: sockets; `false` disables them (default: real sockets). */
  eventSockets?: EventSocketFactory | false;
}

/** A registry with the core commands, and the statistics, event and status registries. */
export interface MiCore {
  registry: MiRegistry;
  stats: StatisticsRegistry;
  events: EventBus;
  status: StatusReportRegistry;
}

/** Make the registries an app needs and register the core commands in it. Opens no sockets. */
export function createMiCore(options: MiCoreOptions = {}): MiCore {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? noopLogger;
  const registry = new MiRegistry();
  const stats = new StatisticsRegistry();
  const events = new EventBus({ clock, logger, stats });
  const status = new StatusReportRegistry({ clock, events });
  status.group('core', { public: true }).identifier('main', { status: 1, details: 'running' });
  const sockets =
    options.eventSockets === false
      ? undefined
      : (options.eventSockets ?? createSocketSinkFactory({ logger, stats }));
  registry.register(
    coreCommands({
      registry,
      stats,
      status,
      events,
      clock,
      ...(options.server !== undefined ? { server: options.server } : {}),
      ...(options.version !== undefined ? { version: options.version } : {}),
      ...(options.logLevel !== undefined ? { logLevel: options.logLevel } : {}),
      ...(sockets !== undefined ? { eventSockets: sockets } : {}),
    }),
  );
  return { registry, stats, events, status };
}
