import { z } from 'zod';
import { checkBindPolicy } from '../security/policy.js';
import type { MiServerOptions } from './server.js';

/**
 * The MI listener's configuration as an app reads it from a file or environment
 * (snake_case, as operators know from OpenSIPS's httpd/mi_http modparams).
 */
export const miConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8888),
    root: z
      .string()
      .regex(/^\/[A-Za-z0-9_./-]*$/)
      .default('/mi'),
    ws_path: z
      .union([z.string().regex(/^\/[A-Za-z0-9_./-]*$/), z.literal(false)])
      .default('/mi/ws'),
    token: z.string().min(16).optional(),
    allowed_origins: z.array(z.string().url()).max(32).default([]),
    max_body_bytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
    max_connections: z.number().int().min(1).max(65535).default(128),
    /** TCP connections one source address may hold (WebSocket ones included). */
    max_connections_per_source: z.number().int().min(1).max(65535).default(32),
    max_ws_clients: z.number().int().min(1).max(65535).default(64),
    /** WebSocket clients one source address may hold. */
    max_ws_clients_per_source: z.number().int().min(1).max(65535).default(16),
    ws_max_buffered_bytes: z
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
    /** Seconds between WebSocket pings; 0 turns keep-alive off. */
    ping_interval: z.number().min(0).max(3600).default(30),
    /**
     * Seconds a connection has to deliver a whole request (headers and body), counted from the
     * accept or from the end of the keep-alive idle time; a request dripped slowly is closed.
     */
    request_timeout: z.number().min(0.1).max(3600).default(10),
    /** Seconds an answered HTTP connection may stay idle before it is closed. */
    keepalive_timeout: z.number().min(0.1).max(3600).default(5),
  })
  .strict()
  .superRefine((c, ctx) => {
    try {
      checkBindPolicy(c.host, c.token);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: (err as Error).message });
    }
  });

export type MiConfig = z.infer<typeof miConfigSchema>;

/** Validate and fill defaults; throws zod's readable error. Returns a frozen object. */
export function parseMiConfig(input: unknown): Readonly<MiConfig> {
  return Object.freeze(miConfigSchema.parse(input ?? {}));
}

/** The `MiServer` options a config stands for (add registry, events, stats, logger). */
export function miServerOptions(
  config: MiConfig,
): Omit<MiServerOptions, 'registry' | 'events' | 'stats' | 'logger'> {
  const o: Omit<MiServerOptions, 'registry' | 'events' | 'stats' | 'logger'> = {
    host: config.host,
    port: config.port,
    root: config.root,
    wsPath: config.ws_path,
    allowedOrigins: config.allowed_origins,
    maxBodyBytes: config.max_body_bytes,
    maxConnections: config.max_connections,
    maxConnectionsPerSource: config.max_connections_per_source,
    maxWsClients: config.max_ws_clients,
    maxWsClientsPerSource: config.max_ws_clients_per_source,
    wsMaxBufferedBytes: config.ws_max_buffered_bytes,
    pingIntervalMs: Math.round(config.ping_interval * 1000),
    requestTimeoutMs: Math.round(config.request_timeout * 1000),
    keepAliveTimeoutMs: Math.round(config.keepalive_timeout * 1000),
  };
  if (config.token !== undefined) o.token = config.token;
  return o;
}
