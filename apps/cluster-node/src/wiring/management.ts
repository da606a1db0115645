/** Management of a node: the MI server (HTTP `/mi`, WebSocket `/mi/ws`) and Prometheus `/metrics`. */
import { type MiCore, MiServer, miServerOptions } from '@sipedge/mi';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import { MetricsServer, statisticsRegistry } from '../metrics.js';
import type { Cleanups } from './cleanups.js';

const hostText = (h: string) => (h.includes(':') ? `[${h}]` : h);

/** Starts the MI server on every command registered so far; returns its URL. */
export async function startMiServer(
  config: Readonly<NodeConfig>,
  deps: { mi: MiCore; logger: Logger; cleanups: Cleanups },
): Promise<string> {
  const { mi } = deps;
  const miServer = new MiServer({
    registry: mi.registry,
    events: mi.events,
    stats: mi.stats,
    logger: deps.logger,
    ...miServerOptions(config.mi),
  });
  const miAddr = await miServer.start();
  deps.cleanups.push(() => miServer.stop());
  return `http://${hostText(miAddr.address)}:${miAddr.port}${config.mi.root}`;
}

/** Starts `/metrics` fed from the MI statistics, unless disabled; returns its URL. */
export async function startMetrics(
  config: Readonly<NodeConfig>,
  deps: { mi: MiCore; cleanups: Cleanups },
): Promise<string | undefined> {
  const m = config.metrics;
  if (!m.enabled) return undefined;
  const prom = statisticsRegistry(deps.mi.stats, { processMetrics: m.process_metrics });
  const metricsServer = new MetricsServer({
    host: m.host,
    port: m.port,
    path: m.path,
    metrics: prom.metrics,
    contentType: prom.registry.contentType,
  });
  const a = await metricsServer.start();
  deps.cleanups.push(() => metricsServer.stop());
  return `http://${hostText(a.address)}:${a.port}${m.path}`;
}
