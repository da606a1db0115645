/**
 * Prometheus `/metrics`: every MI statistic (every package's counters and gauges, with their
 * descriptions and labels; `prometheusName` in @sipedge/mi says how each is named), the build
 * as `sipedge_build_info`, and the Node.js process metrics under their usual names
 * (`process_…`, `nodejs_…`), on its own HTTP (or HTTPS) listener.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { StatisticsRegistry } from '@sipedge/mi';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** What `sipedge_build_info` says. */
export interface BuildInfo {
  readonly version: string;
  /** The source commit, when the build knows it (`SIPEDGE_COMMIT`). */
  readonly commit?: string | undefined;
}

/**
 * prom-client's default metrics that are gauges named like counters; each duplicates a
 * labelled gauge (`nodejs_active_handles` by type…) and breaks the `_total` convention.
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/**
 * The exposition of `stats` at each scrape: statistics registered later (a package started
 * after this was made) appear at the next one. Counters that MI `reset_statistics` resets go
 * back down, as OpenSIPS's do; Prometheus treats that as a counter reset.
 */
export function statisticsRegistry(
  stats: StatisticsRegistry,
  options: { processMetrics?: boolean; build?: BuildInfo } = {},
): { registry: Registry; metrics(): Promise<string> } {
  const registry = new Registry();
  if (options.processMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  }
  const build = options.build;
  if (build !== undefined) {
    const labels: Record<string, string> = {
      version: build.version,
      node_version: process.version,
      ...(build.commit === undefined || build.commit === '' ? {} : { commit: build.commit }),
    };
    new Gauge({
      name: 'sipedge_build_info',
      help: 'Always 1; the labels say which sipedge and Node.js this process runs',
      labelNames: Object.keys(labels),
      registers: [registry],
    }).set(labels, 1);
  }
  return {
    registry,
    metrics: async () => `${stats.toPrometheus()}${await registry.metrics()}`,
  };
}

/** The `/metrics` HTTP listener; only GET/HEAD on `path`, everything else 404/405. */
export class MetricsServer {
  readonly #server: Server;
  readonly #https: ReturnType<typeof createHttpsServer> | undefined;
  readonly #host: string;
  readonly #port: number;

  constructor(options: {
    host: string;
    port: number;
    path: string;
    metrics: () => Promise<string>;
    contentType: string;
    /** HTTPS with these options (certificate, key…). */
    tls?: HttpsOptions;
  }) {
    this.#host = options.host;
    this.#port = options.port;
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const url = (req.url ?? '/').split('?')[0];
      if (url !== options.path) {
        res.writeHead(404).end();
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
        return;
      }
      options.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': options.contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        () => res.writeHead(500).end(),
      );
    };
    this.#https = options.tls === undefined ? undefined : createHttpsServer(options.tls, onRequest);
    this.#server = this.#https ?? createServer(onRequest);
    this.#server.maxConnections = 64;
    this.#server.requestTimeout = 10_000;
  }

  /** Renewed certificates for HTTPS: new connections get them. */
  setSecureContext(options: HttpsOptions): void {
    this.#https?.setSecureContext(options);
  }

  start(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off('error', reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
