/**
 * Management of a node: the MI server (HTTP `/mi`, WebSocket `/mi/ws`, the dashboard at
 * `mi.dashboard_path`) and Prometheus `/metrics`, each over HTTPS when its `tls` says so.
 */
import { fileURLToPath } from 'node:url';
import { type MiCore, type MiPages, MiServer, miServerOptions } from '@sipedge/mi';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import { dashboardPages, loadDashboard } from '../dashboard.js';
import { type BuildInfo, MetricsServer, statisticsRegistry } from '../metrics.js';
import type { Cleanups } from './cleanups.js';
import { auditStateChanges } from './mi-audit.js';
import type { NodeTls } from './tls.js';

const hostText = (h: string) => (h.includes(':') ? `[${h}]` : h);

/** Where the build puts the dashboard: `dist/public`, beside this file's `dist/src`. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

/** The MI server's `pages` for the dashboard, or none when it is off or not built. */
export function dashboardOptions(
  config: Readonly<NodeConfig>,
  dir: string,
  logger: Logger,
): { pages?: MiPages } {
  const { mi } = config;
  if (!mi.dashboard) return {};
  if (mi.root.replace(/\/+$/, '') === '' || mi.ws_path === false) {
    logger.warn({}, 'dashboard off: it needs an MI root other than / and the MI WebSocket');
    return {};
  }
  const assets = loadDashboard(dir, mi.ws_path);
  if (assets === undefined) {
    logger.warn({ dir }, 'dashboard off: it is not built (npm run build)');
    return {};
  }
  return { pages: dashboardPages(assets, mi.dashboard_path) };
}

/**
 * Starts the MI server on every command registered so far, the state-changing ones logged when
 * they run; returns its URL.
 */
export async function startMiServer(
  config: Readonly<NodeConfig>,
  deps: { mi: MiCore; logger: Logger; cleanups: Cleanups; tls: NodeTls; dashboardDir?: string },
): Promise<string> {
  const { mi } = deps;
  auditStateChanges(mi.registry, deps.logger);
  const tls = deps.tls.material('mi');
  const miServer = new MiServer({
    registry: mi.registry,
    events: mi.events,
    stats: mi.stats,
    logger: deps.logger,
    ...miServerOptions(config.mi),
    ...dashboardOptions(config, deps.dashboardDir ?? DASHBOARD_DIR, deps.logger),
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
