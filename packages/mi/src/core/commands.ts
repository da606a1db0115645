import { type Clock, systemClock } from '@sipedge/core';
import { z } from 'zod';
import { defineCommand, type MiCommand } from '../command.js';
import { ctime } from '../ctime.js';
import { MiCommandError, MiDefinitionError, MiParamsError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import { type EventSocketFactory, parseEventSocket } from '../events/sockets.js';
import type { MiRegistry } from '../registry.js';
import type { StatisticsRegistry } from '../stats/registry.js';
import type { SrGroup, SrIdentifier, StatusReportRegistry } from '../status/registry.js';

/** OpenSIPS log levels: -3 alert … 4 debug. */
export const LOG_LEVELS: Readonly<Record<number, string>> = {
  [-3]: 'fatal',
  [-2]: 'fatal',
  [-1]: 'error',
  0: 'warn',
  1: 'warn',
  2: 'info',
  3: 'info',
  4: 'debug',
};

/** Reads and sets the process log level in OpenSIPS numbers. */
export interface LogLevelControl {
  get(): number;
  set(level: number): void;
}

/** A log level kept in memory, mirrored onto a pino-style logger's `level` if given. */
export function logLevelControl(initial = 3, logger?: { level: string }): LogLevelControl {
  let level = initial;
  return {
    get: () => level,
    set: (n) => {
      level = n;
      if (logger !== undefined) logger.level = LOG_LEVELS[n] ?? 'info';
    },
  };
}

export interface CoreCommandsOptions {
  registry: MiRegistry;
  stats?: StatisticsRegistry;
  status?: StatusReportRegistry;
  events?: EventBus;
  clock?: Pick<Clock, 'now'>;
  /** When the server started (ms); default: when the commands were made. */
  startedAt?: number;
  /** Shown by `version` (default "sipedge"). */
  server?: string;
  version?: string;
  logLevel?: LogLevelControl;
  /** Makes sinks for `udp:`/`tcp:` subscriber sockets; without it only WebSocket subscribes. */
  eventSockets?: EventSocketFactory;
}

const statSelectors = z
  .union([z.array(z.string().max(256)).max(256), z.string().max(256)])
  .describe('statistic names: "all", "group:", "group:name" or "name"');

function selectors(v: string | string[] | undefined): string[] {
  if (v === undefined) return ['all'];
  return typeof v === 'string' ? v.split(/\s+/).filter((s) => s.length > 0) : v;
}

function group(status: StatusReportRegistry, name: string): SrGroup {
  const g = status.get(name);
  if (g === undefined) throw new MiCommandError(404, 'Group not found');
  return g;
}

function identifier(g: SrGroup, name: string): SrIdentifier {
  const id = g.get(name);
  if (id === undefined) throw new MiCommandError(404, 'Identity not found');
  return id;
}

/**
 * The core commands: `which`, `help`, `version`, `uptime`, statistics, status/report,
 * `log_level`, and the event commands. Pass what you have; commands whose registry is missing
 * are left out.
 */
export function coreCommands(options: CoreCommandsOptions): MiCommand[] {
  const { registry, stats, status, events } = options;
  const clock = options.clock ?? systemClock;
  const startedAt = options.startedAt ?? clock.now();
  const logLevel = options.logLevel ?? logLevelControl();
  const out: MiCommand[] = [];

  out.push(
    defineCommand({
      name: 'which',
      readOnly: true,
      description: 'List the available MI commands',
      handler: () => registry.commands().map((c) => c.name),
    }),
    defineCommand({
      name: 'help',
      readOnly: true,
      description: 'Describe a command: text, module, recipes and the JSON Schema of its params',
      params: z.object({ mi_cmd: z.string() }),
      handler: ({ mi_cmd }) => {
        const info = registry.info(mi_cmd);
        if (info === undefined) throw new MiCommandError(404, 'Unknown command');
        return {
          Help: info.description,
          'Exported by': info.module,
          Recipes: info.recipes,
          Schema: info.schema,
        };
      },
    }),
    defineCommand({
      name: 'version',
      readOnly: true,
      description: 'Server name and version',
      handler: () => ({
        Server: `${options.server ?? 'sipedge'} ${options.version ?? '0.1.0'} (node ${process.version})`,
      }),
    }),
    defineCommand({
      name: 'uptime',
      readOnly: true,
      description: 'Current time, start time and seconds up',
      handler: () => {
        const now = clock.now();
        return {
          Now: ctime(now),
          'Up since': ctime(startedAt),
          'Up time': `${Math.max(0, Math.floor((now - startedAt) / 1000))} [sec]`,
        };
      },
    }),
    defineCommand({
      name: 'log_level',
      description: 'Show the log level, or set it (OpenSIPS numbers: -3 alert … 4 debug)',
      params: z.object({
        level: z.number().int().min(-3).max(4).optional(),
        pid: z.number().int().optional(),
      }),
      handler: ({ level, pid }) => {
        if (level === undefined) {
          return { Processes: [{ PID: process.pid, 'Log level': logLevel.get(), Type: 'main' }] };
        }
        if (pid !== undefined && pid !== process.pid)
          throw new MiCommandError(404, 'Process not found');
        logLevel.set(level);
        return 'OK';
      },
    }),
  );

  if (stats !== undefined) {
    out.push(
      defineCommand({
        name: 'get_statistics',
        readOnly: true,
        description: 'Values of statistics ("all", "group:", "group:name" or "name")',
        params: z.object({ statistics: statSelectors }),
        handler: ({ statistics }) => {
          const v = stats.values(selectors(statistics));
          if (Object.keys(v).length === 0) throw new MiCommandError(404, 'Statistics Not Found');
          return v;
        },
      }),
      defineCommand({
        name: 'list_statistics',
        readOnly: true,
        description: 'Statistics with their kind (incremental or non-incremental)',
        params: z.object({ statistics: statSelectors.optional() }),
        handler: ({ statistics }) => {
          const v = stats.kinds(selectors(statistics));
          if (statistics !== undefined && Object.keys(v).length === 0) {
            throw new MiCommandError(404, 'Statistics Not Found');
          }
          return v;
        },
      }),
      defineCommand({
        name: 'reset_statistics',
        description: 'Zero incremental statistics',
        params: z.object({ statistics: statSelectors }),
        handler: ({ statistics }) => {
          const sel = selectors(statistics);
          if (stats.match(sel).length === 0) throw new MiCommandError(404, 'Statistics Not Found');
          stats.reset(sel);
          return 'OK';
        },
      }),
    );
  }

  if (status !== undefined) {
    out.push(
      defineCommand({
        name: 'sr_get_status',
        readOnly: true,
        description: 'Status of a status/report identifier (default "main"; "all" aggregates)',
        params: z.object({ group: z.string(), identifier: z.string().optional() }),
        handler: ({ group: gname, identifier: idName }) => {
          const g = group(status, gname);
          const name = idName ?? 'main';
          if (name === 'all' && g.get('all') === undefined) {
            const ok = g.identifiers().every((i) => i.status >= 0);
            return { Readiness: ok, Status: ok ? 1 : -1, Details: 'aggregated' };
          }
          return identifier(g, name).toStatus();
        },
      }),
      defineCommand({
        name: 'sr_list_status',
        readOnly: true,
        description: 'Status of every identifier of a group, or the identifiers of every group',
        params: z.object({ group: z.string().optional() }),
        handler: ({ group: gname }) => {
          if (gname === undefined) {
            return status.groups().map((g) => ({
              Name: g.name,
              Identifiers: g.identifiers().map((i) => ({ Name: i.name, ...i.toStatus() })),
            }));
          }
          return group(status, gname)
            .identifiers()
            .map((i) => ({ Name: i.name, ...i.toStatus() }));
        },
      }),
      defineCommand({
        name: 'sr_list_reports',
        readOnly: true,
        description: 'Report histories (last 200 each) of an identifier, a group, or everything',
        params: z.object({ group: z.string().optional(), identifier: z.string().optional() }),
        handler: ({ group: gname, identifier: idName }) => {
          if (gname === undefined) {
            return status.groups().map((g) => ({
              Name: g.name,
              Identifiers: g.identifiers().map((i) => ({ Name: i.name, Reports: i.reports() })),
            }));
          }
          const g = group(status, gname);
          if (idName !== undefined) return identifier(g, idName).reports();
          return g.identifiers().map((i) => ({ Name: i.name, Reports: i.reports() }));
        },
      }),
      defineCommand({
        name: 'sr_list_identifiers',
        readOnly: true,
        description: 'Identifiers of a group, or of every group',
        params: z.object({ group: z.string().optional() }),
        handler: ({ group: gname }) => {
          const one = (g: SrGroup): { Group: string; Identifiers: string[] } => ({
            Group: g.name,
            Identifiers: g.identifiers().map((i) => i.name),
          });
          if (gname === undefined) return status.groups().map(one);
          return one(group(status, gname));
        },
      }),
    );
  }

  if (events !== undefined) {
    out.push(
      defineCommand({
        name: 'events_list',
        readOnly: true,
        description: 'The events that can be subscribed to',
        handler: () => ({ Events: events.events() }),
      }),
      defineCommand({
        name: 'subscribers_list',
        readOnly: true,
        description: 'Subscribers of every event, of one event, or one subscriber',
        params: z.object({ event: z.string().optional(), socket: z.string().optional() }),
        handler: ({ event, socket }) => {
          const one = (name: string): Record<string, unknown> => {
            const subs = events.subscribers(name);
            if (subs === undefined) throw new MiCommandError(404, 'Event not found');
            const id = events.events().find((e) => e.name === name)?.id ?? -1;
            return { name, id, subscribers: subs };
          };
          if (event === undefined) return { Events: events.events().map((e) => one(e.name)) };
          const ev = one(event);
          if (socket === undefined) return ev;
          const sub = (ev.subscribers as { socket: string }[]).find((s) => s.socket === socket);
          if (sub === undefined) throw new MiCommandError(404, 'Subscriber not found');
          return sub;
        },
      }),
      defineCommand({
        name: 'event_subscribe',
        description:
          'Subscribe to an event: over WebSocket with (event[, expire]) for this connection, or ' +
          '(event, socket[, expire]) for a udp:/tcp: socket; expire in seconds (default 3600, 0 ends it)',
        params: z.object({
          event: z.string(),
          socket: z.string().optional(),
          expire: z.number().int().min(0).max(31_536_000).optional(),
        }),
        recipes: [['event'], ['event', 'socket'], ['event', 'socket', 'expire']],
        handler: ({ event, socket, expire }, ctx) => {
          if (!events.has(event)) throw new MiCommandError(400, 'Unknown event');
          if (socket === undefined || socket === 'ws:') {
            const session = ctx.session;
            if (session === undefined) {
              throw new MiCommandError(400, 'A socket is required outside a WebSocket connection');
            }
            const name = `ws:${session.id}`;
            if (expire === 0) {
              events.unsubscribe(event, name);
              return 'OK';
            }
            events.subscribe(
              event,
              { socket: name, deliver: (text) => session.send(text) },
              expire,
            );
            return 'OK';
          }
          if (expire === 0) {
            events.unsubscribe(event, socket);
            return 'OK';
          }
          if (options.eventSockets === undefined) {
            throw new MiCommandError(400, 'Socket subscriptions are not enabled');
          }
          let sink: ReturnType<EventSocketFactory>;
          try {
            parseEventSocket(socket);
            sink = options.eventSockets(socket);
          } catch (err) {
            if (err instanceof MiParamsError) throw new MiCommandError(400, err.data);
            throw err;
          }
          try {
            events.subscribe(event, sink, expire ?? 3600);
          } catch (err) {
            sink.close?.();
            if (err instanceof MiDefinitionError) throw new MiCommandError(400, err.message);
            throw err;
          }
          return 'OK';
        },
      }),
      defineCommand({
        name: 'event_unsubscribe',
        description: 'End a subscription (this WebSocket connection when no socket is given)',
        params: z.object({ event: z.string(), socket: z.string().optional() }),
        handler: ({ event, socket }, ctx) => {
          const name = socket ?? (ctx.session !== undefined ? `ws:${ctx.session.id}` : undefined);
          if (name === undefined) throw new MiCommandError(400, 'A socket is required');
          if (!events.unsubscribe(event, name))
            throw new MiCommandError(404, 'Subscriber not found');
          return 'OK';
        },
      }),
      defineCommand({
        name: 'raise_event',
        description: 'Raise an event by hand with the given params object',
        params: z.object({
          event: z.string(),
          params: z.record(z.string(), z.unknown()).optional(),
        }),
        handler: ({ event, params }) => {
          if (!events.has(event)) throw new MiCommandError(400, 'Unknown event');
          events.raise(event, params ?? {});
          return 'OK';
        },
      }),
    );
  }
  return out;
}
