import type { Clock, Logger } from '@sipedge/core';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { MIN_SECRET_LENGTH } from './auth/link-auth.js';
import { ClustererConfigError } from './errors.js';
import { type NodeStore, SqliteNodeStore } from './nodes/store.js';
import type { ClustererOptions } from './options.js';
import type { BinTransport } from './runtime.js';
import { parseSharingTag } from './tags/sharing-tags.js';

const strings = z
  .union([z.string().min(1), z.array(z.string().min(1))])
  .transform((v) => (Array.isArray(v) ? v : [v]));

/** The clusterer's configuration, with OpenSIPS modparam names and defaults. */
export const clustererConfigSchema = z
  .object({
    db_mode: z.union([z.literal(0), z.literal(1)]).default(1),
    my_node_id: z.number().int().positive().optional(),
    my_node_info: strings.optional(),
    neighbor_node_info: strings.optional(),
    /** SQLite file holding the `clusterer` table (db_mode=1). */
    db_url: z.string().min(1).optional(),
    db_table: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default('clusterer'),
    /** Seconds. */
    ping_interval: z.number().positive().max(3600).default(4),
    /** Milliseconds. */
    ping_timeout: z.number().int().positive().max(600_000).default(1000),
    /** Seconds. */
    node_timeout: z.number().positive().max(86_400).default(60),
    enable_rerouting: z.boolean().default(true),
    /** Seconds a seed waits for a donor, counted from readiness. */
    seed_fallback_interval: z.number().min(0).max(3600).default(5),
    /** Seconds without sync data before a sync fails (and is retried). */
    sync_timeout: z.number().positive().max(3600).default(15),
    /** Soft byte limit of one SYNC packet (OpenSIPS code default 32768). */
    sync_packet_size: z.number().int().min(256).max(65000).default(32768),
    /** `name/cluster_id=active|backup`, repeatable. */
    sharing_tag: strings.optional().superRefine((v, ctx) => {
      for (const t of v ?? []) {
        try {
          parseSharingTag(t);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : String(e) });
        }
      }
    }),
    /** sipedge: automatic sharing-tag failover, hold-down in ms (absent: off). */
    shtag_failover_holddown: z.number().int().min(0).max(600_000).optional(),
    /**
     * sipedge: shared secret(s) authenticating BIN connections (absent: off, as OpenSIPS; when
     * set, OpenSIPS nodes cannot join). The first signs, every one is accepted (rotation).
     */
    auth_secret: z
      .union([z.string(), z.array(z.string()).min(1).max(4)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .pipe(z.array(z.string().min(MIN_SECRET_LENGTH, 'at least 16 characters')))
      .optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.db_mode === 0 && (c.my_node_info === undefined || c.my_node_info.length === 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['my_node_info'],
        message: 'required when db_mode is 0',
      });
    }
    if (c.db_mode === 1 && c.my_node_id === undefined) {
      ctx.addIssue({ code: 'custom', path: ['my_node_id'], message: 'required when db_mode is 1' });
    }
  });

export type ClustererConfig = z.output<typeof clustererConfigSchema>;

/** Validate and fill defaults; throws ClustererConfigError with zod's readable message. */
export function parseClustererConfig(input: unknown): Readonly<ClustererConfig> {
  const r = clustererConfigSchema.safeParse(input);
  if (!r.success) throw new ClustererConfigError(z.prettifyError(r.error), { cause: r.error });
  return Object.freeze(r.data);
}

/**
 * Turn a parsed config plus the injected pieces into Clusterer options. In db_mode=1 without
 * a `store`, the SQLite file `db_url` is opened.
 */
export function clustererOptionsFromConfig(
  cfg: Readonly<ClustererConfig>,
  deps: { transport: BinTransport; clock?: Clock; logger?: Logger; store?: NodeStore },
): ClustererOptions {
  const opts: ClustererOptions = {
    transport: deps.transport,
    dbMode: cfg.db_mode,
    pingInterval: cfg.ping_interval,
    pingTimeout: cfg.ping_timeout,
    nodeTimeout: cfg.node_timeout,
    enableRerouting: cfg.enable_rerouting,
    sync: {
      seedFallbackInterval: cfg.seed_fallback_interval,
      syncTimeout: cfg.sync_timeout,
      syncPacketSize: cfg.sync_packet_size,
    },
  };
  if (cfg.sharing_tag !== undefined) opts.sharingTags = cfg.sharing_tag;
  if (cfg.shtag_failover_holddown !== undefined)
    opts.shtagFailover = { enabled: true, holdDownMs: cfg.shtag_failover_holddown };
  if (cfg.auth_secret !== undefined) opts.authSecret = cfg.auth_secret;
  if (deps.clock !== undefined) opts.clock = deps.clock;
  if (deps.logger !== undefined) opts.logger = deps.logger;
  if (cfg.my_node_id !== undefined) opts.myNodeId = cfg.my_node_id;
  if (cfg.my_node_info !== undefined) opts.myNodeInfo = cfg.my_node_info;
  if (cfg.neighbor_node_info !== undefined) opts.neighborNodeInfo = cfg.neighbor_node_info;
  if (cfg.db_mode === 1) {
    if (deps.store !== undefined) opts.store = deps.store;
    else if (cfg.db_url !== undefined)
      opts.store = new SqliteNodeStore(new Database(cfg.db_url), cfg.db_table);
    else throw new ClustererConfigError('db_mode=1 needs db_url or a store');
  }
  return opts;
}
