/**
 * Management of a node: the MI server (HTTP `/mi`, WebSocket `/mi/ws`) and Prometheus
 * `/metrics`, each over HTTPS when its `tls` says so.
 */
import { type MiCore, MiServer, miServerOptions } from '@sipedge/mi';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import { type BuildInfo, MetricsServer, statisticsRegistry } from '../metrics.js';
import type { Cleanups } from './cleanups.js';
import type { NodeTls } from './tls.js';

const hostText = (h: string) => (h.includes(':') ? `[${h}]` : h);

/** Starts the MI server on every command registered so far; returns its URL. */
export async function startMiServer(
  config: Readonly<NodeConfig>,
  deps: { mi: MiCore; logger: Logger; cleanups: Cleanups; tls: NodeTls },
): Promise<string> {
  const { mi } = deps;
  const tls = deps.tls.material('mi');
  const miServer = new MiServer({
    registry: mi.registry,
    events: mi.events,
    stats: mi.stats,
    logger: deps.logger,
    ...miServerOptions(config.mi),
    ...(tls === undefined ? {} : { tls: tls.server }),
  });
  const miAddr = await miServer.start();
  deps.cleanups.push(() => miServer.stop());
  if (tls !== undefined) deps.tls.onReload('mi', (m) => miServer.setSecureContext(m.server));
  const scheme = tls === undefined ? 'http' : 'https';
  return `${scheme}://${hostText(miAddr.address)}:${miAddr.port}${config.mi.root}`;
}

/** Starts `/metrics` fed from the MI statistics, unless disabled; returns its URL. */
export async function startMetrics(
  config: Readonly<NodeConfig>,
  deps: { mi: MiCore; cleanups: Cleanups; tls: NodeTls; build: BuildInfo },
): Promise<string | undefined> {
  const m = config.metrics;
  if (!m.enabled) return undefined;
  const tls = deps.tls.material('metrics');
  const prom = statisticsRegistry(deps.mi.stats, {
    processMetrics: m.process_metrics,
    build: deps.build,
  });
  const metricsServer = new MetricsServer({
    host: m.host,
    port: m.port,
    path: m.path,
    metrics: prom.metrics,
    contentType: prom.registry.contentType,
    ...(tls === undefined ? {} : { tls: tls.server }),
  });
  const a = await metricsServer.start();
  deps.cleanups.push(() => metricsServer.stop());
  if (tls !== undefined)
    deps.tls.onReload('metrics', (t) => metricsServer.setSecureContext(t.server));
  return `${tls === undefined ? 'http' : 'https'}://${hostText(a.address)}:${a.port}${m.path}`;
}
