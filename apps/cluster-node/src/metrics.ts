/**
 * Prometheus `/metrics`: a prom-client registry fed at scrape time from the MI statistics
 * (every package's counters and gauges, `sipedge_<group>_<name>[_total]`), plus Node.js
 * process metrics, on its own HTTP (or HTTPS) listener.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { StatisticsRegistry } from '@sipedge/mi';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** The Prometheus name of an MI statistic `group:name`. */
export function promName(fullName: string, incremental: boolean): string {
  const base = `sipedge_${fullName.replace(':', '_')}`.replace(/[^A-Za-z0-9_]/g, '_');
  return incremental ? `${base}_total` : base;
}

/**
 * A registry that mirrors `stats`: statistics registered later (a package started after the
 * registry was made) appear at the next scrape. Counters that MI `reset_statistics` resets go
 * back down, as OpenSIPS's do; Prometheus treats that as a counter reset.
 */
export function statisticsRegistry(
  stats: StatisticsRegistry,
  options: { processMetrics?: boolean } = {},
): { registry: Registry; metrics(): Promise<string> } {
  const registry = new Registry();
  if (options.processMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: 'sipedge_node_' });
  const mirrored = new Set<string>();
  const sync = (): void => {
    const kinds = stats.kinds(['all']);
    for (const [full, kind] of Object.entries(kinds)) {
      if (mirrored.has(full)) continue;
      mirrored.add(full);
      const incremental = kind === 'incremental';
      const name = promName(full, incremental);
      const help = `MI statistic ${full}`;
      if (incremental) {
        new Counter({
          name,
          help,
          registers: [registry],
          collect() {
            this.reset();
            const v = stats.get(full) ?? 0;
            if (v > 0) this.inc(v);
          },
        });
      } else {
        new Gauge({
          name,
          help,
          registers: [registry],
          collect() {
            this.set(stats.get(full) ?? 0);
          },
        });
      }
    }
  };
  return {
    registry,
    metrics: async () => {
      sync();
      return registry.metrics();
    },
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
