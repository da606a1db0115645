// Over 500 lines: the file syntax (every section's schema but `sip`) reads in one place.
/**
 * The cluster-node configuration: one YAML or JSON file, then `SIPEDGE_…` environment
 * overrides, validated by zod. Parameter names follow OpenSIPS where one exists (clusterer:
 * `my_node_id`, `ping_interval`, `ping_timeout`, `node_timeout`, `sharing_tag`,
 * `seed_fallback_interval`…; MI: the `@sipedge/mi` listener schema).
 *
 * Errors name the key (`clusterer.ping_timeout: …`), and say when the value came from the
 * environment (`(from SIPEDGE_CLUSTERER__PING_TIMEOUT)`).
 */
import { readFileSync } from 'node:fs';
import { type BinAddress, clustererConfigSchema, parseBinUrl } from '@sipedge/clusterer';
import { SipedgeError } from '@sipedge/core';
import { federationConfigSchema } from '@sipedge/federation';
import { miConfigSchema } from '@sipedge/mi';
import {
  memberConfigSchema,
  parseRtpClusterConfig,
  type RtpClusterConfig,
  refineUniqueNames,
} from '@sipedge/rtp-cluster';
import { parseSocketSpec } from '@sipedge/rtpp';
import { usrlocConfigSchema } from '@sipedge/usrloc';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { address, addressOrSubnet, sipSection, splitAddress } from './config-sip.js';
import { httpsSwitch, tlsProblems, tlsShape } from './tls-config.js';

/** A bad configuration: `problems` are one line each, every line names its key. */
export class NodeConfigError extends SipedgeError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], options?: { cause?: unknown }) {
    super('CLUSTER_NODE_CONFIG', problems.join('\n'), options);
    this.problems = problems;
  }
}

/** A BIN url with an explicit `bin:`/`bins:`; port 0 (a free port) only where `listen` is true. */
export function parseBinListenUrl(url: string, listen = true): BinAddress {
  if (!/^bins?:/.test(url))
    throw new NodeConfigError([`"${url}" does not start with bin: or bins:`]);
  if (listen && /:0$/.test(url)) return { ...parseBinUrl(`${url.slice(0, -2)}:1`), port: 0 };
  return parseBinUrl(url);
}

const binUrlOf = (listen: boolean) =>
  z.string().refine(
    (s) => {
      try {
        parseBinListenUrl(s, listen);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be a BIN url such as bin:127.0.0.1:5566' },
  );
const binUrl = binUrlOf(false);

const rtppSocket = z.string().refine(
  (s) => {
    try {
      parseSocketSpec(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an rtpproxy socket such as udp:127.0.0.1:22222' },
);

/** OpenSIPS `sharing_tag` modparam form: `name/cluster_id[=active|backup]`. */
const SHARING_TAG_RE = /^([A-Za-z0-9_.-]{1,64})\/(\d{1,9})(?:=(active|backup))?$/;

const nodeSection = z
  .object({
    /** This node's id in the cluster (OpenSIPS `my_node_id`). */
    id: z.number().int().min(1).max(65535),
    name: z.string().min(1).max(64).optional(),
  })
  .strict();

const { node_id: _nodeId, db_url: _dbUrl, ...usrlocShape } = usrlocConfigSchema.shape;
/**
 * usrloc + registrar with OpenSIPS modparam names (see @sipedge/usrloc); the database is the
 * node's `storage.file` (`sql_write_mode` none when that is `:memory:`).
 */
const usrlocSection = z.object(usrlocShape).strict().prefault({});

const metricsSection = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9090),
    path: z
      .string()
      .regex(/^\/[A-Za-z0-9_./-]*$/)
      .default('/metrics'),
    /** Node.js process metrics (prom-client default metrics). */
    process_metrics: z.boolean().default(true),
    /** HTTPS: `true` with the node's `tls` settings, or an override of them. */
    tls: httpsSwitch,
  })
  .strict()
  .default({
    enabled: true,
    host: '127.0.0.1',
    port: 9090,
    path: '/metrics',
    process_metrics: true,
    tls: false,
  });

const neighbour = z
  .object({
    node_id: z.number().int().min(1).max(65535),
    url: binUrl,
    /** `bins:`: the name its certificate must carry, when not the host of its url. */
    tls_name: z.string().min(1).max(253).optional(),
  })
  .strict();

/** Which MI_CMD packets from other nodes run here (see @sipedge/clusterer `RemoteMiPolicy`). */
const remoteMiSection = z
  .object({
    /** Command names, `read_only` (commands marked read-only) or `all` (as OpenSIPS). */
    allow: z.array(z.string().min(1).max(128)).max(256).default(['read_only']),
    /** Node ids that may send MI_CMD at all (default: every node of the cluster). */
    from: z.array(z.number().int().min(1).max(65535)).max(128).optional(),
  })
  .strict();

const clustererShape = clustererConfigSchema.shape;

/**
 * The clusterer. What @sipedge/clusterer takes as is keeps its schema (OpenSIPS names, ranges
 * and defaults); the node's BIN url, seed flag and neighbours become its `my_node_info` and
 * `neighbor_node_info` (db_mode 0).
 */
const clustererSection = z
  .object({
    cluster_id: z.number().int().min(1).max(65535).default(1),
    /** This node's BIN listener, e.g. `bin:127.0.0.1:5566` (its url in the cluster). */
    listen: binUrlOf(true),
    /** Start as the seed of the cluster's data (OpenSIPS flag `seed`). */
    seed: z.boolean().default(false),
    /** 0 (the default here): nodes from `neighbours` (and discovery); 1: from SQLite. */
    db_mode: clustererShape.db_mode.unwrap().default(0),
    /** SQLite file with the `clusterer` table (db_mode 1); defaults to `storage.file`. */
    db_url: clustererShape.db_url,
    neighbours: z.array(neighbour).max(127).default([]),
    ping_interval: clustererShape.ping_interval,
    ping_timeout: clustererShape.ping_timeout,
    node_timeout: clustererShape.node_timeout,
    enable_rerouting: clustererShape.enable_rerouting,
    /**
     * Accept BIN connections from hosts that are not nodes of the cluster (needed only when
     * unknown nodes must join by discovery). Off: such connections are closed on accept.
     */
    accept_unknown_hosts: z.boolean().default(false),
    seed_fallback_interval: clustererShape.seed_fallback_interval,
    sync_timeout: clustererShape.sync_timeout,
    /**
     * sipedge automatic sharing-tag failover: milliseconds the active owner must stay
     * unreachable before one eligible backup takes over (-1 = off, tags move only by MI).
     */
    shtag_failover_holddown: z.number().int().min(-1).max(600_000).default(300),
    /**
     * sipedge shared secret(s) authenticating BIN links (absent: off; when set, OpenSIPS nodes
     * cannot join). The first signs, all are accepted: rotate by adding the new one second.
     */
    auth_secret: clustererShape.auth_secret,
    remote_mi: remoteMiSection.default({ allow: ['read_only'] }),
    /** ms an accepted BIN connection may go without its first acceptable packet. */
    first_packet_timeout: z.number().int().min(100).max(60_000).default(5000),
    /** Not yet admitted BIN connections held per source address (the oldest makes room). */
    max_pending_per_host: z.number().int().min(1).max(1024).default(8),
    /** Not yet admitted BIN connections held from addresses that are not nodes'. */
    max_pending_unknown: z.number().int().min(0).max(65_536).default(128),
    /** Admitted BIN connections per node (the least recently active makes room). */
    max_connections_per_node: z.number().int().min(1).max(64).default(4),
    /** TLS settings of `bins:` links over `tls` (verify_client defaults to required here). */
    tls: tlsShape.optional(),
  })
  .strict();

const relay = z
  .object({
    name: z.string().min(1).max(64),
    /** The relay's control socket, e.g. `udp:127.0.0.1:22222`. */
    socket: rtppSocket,
    weight: z.number().int().positive().default(1),
    capacity: z.number().int().positive().default(4000),
    status: z.enum(['ACTIVE', 'SUSPENDED']).default('ACTIVE'),
    wan_address: memberConfigSchema.shape.wan_address,
    lan_address: memberConfigSchema.shape.lan_address,
  })
  .strict();

const rtpSection = z
  .object({
    /** The balancer's cluster name (as in rtp_cluster.xml). */
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/)
      .default('media'),
    /**
     * Optional rtpproxy control socket for this node's balancer, so Kamailio/OpenSIPS can use
     * it (`udp:127.0.0.1:22230`); without it the balancer serves only this node.
     */
    control_socket: rtppSocket.optional(),
    capacity_limit: z.enum(['soft', 'hard']).default('soft'),
    /** Anchor the media of calls this node proxies on the relays (SDP rewritten). */
    anchor_media: z.boolean().default(true),
    /** Replicate the call-id → relay table over the clusterer (a call keeps its relay). */
    replicate_calls: z.boolean().default(true),
    /** Milliseconds between member heartbeats. */
    heartbeat_interval: z.number().int().min(100).max(600_000).default(1000),
    /**
     * Addresses or CIDR blocks that may send commands to a udp/tcp `control_socket`, besides
     * loopback (always allowed); others are dropped. unix sockets: their file's permissions.
     */
    control_allowed_sources: z.array(addressOrSubnet).max(1024).default([]),
    /** tcp connections one source may hold on `control_socket`. */
    control_max_connections_per_source: z.number().int().min(1).max(65_535).default(16),
    /** Seconds a cunix/tcp `control_socket` connection may stay silent (0: forever). */
    control_idle_timeout: z.number().int().min(0).max(86_400).default(120),
    /**
     * Calls one control-socket sender may hold (a new session over it answers E72); default 90%
     * of the relays' summed capacity, 0 for no cap. Calls of this node's own SIP traffic are
     * not counted.
     */
    max_sessions_per_source: z.number().int().min(0).max(10_000_000).optional(),
    relays: z.array(relay).min(1, 'at least one relay is needed').max(256),
  })
  .strict()
  .superRefine((r, ctx) =>
    refineUniqueNames(ctx, 'relays', r.relays, (name) => `relay name "${name}" is used twice`),
  );

const haSection = z
  .object({
    /** The floating service address this node owns while its sharing tag is active. */
    service_address: address,
    /** OpenSIPS `sharing_tag`: `name/cluster_id[=active|backup]`, e.g. `vip/1`. */
    sharing_tag: z
      .string()
      .regex(SHARING_TAG_RE, 'must be name/cluster_id[=active|backup], e.g. vip/1'),
    /** Command run (via /bin/sh) when the tag becomes active here, e.g. `ip addr add …`. */
    on_active: z.string().min(1).optional(),
    /** Command run when the tag goes backup here. */
    on_backup: z.string().min(1).optional(),
  })
  .strict();

const storageSection = z
  .object({
    /** SQLite file (`:memory:` for none); relative paths are relative to the config file. */
    file: z.string().min(1).default(':memory:'),
    /**
     * SQLite `synchronous` for the location table: `normal` survives a process crash (a 200
     * is answered after the commit), `full` also an OS crash or power loss (the commit is
     * fsynced first; each REGISTER then waits for the disk).
     */
    synchronous: z.enum(['normal', 'full']).default('normal'),
  })
  .strict()
  .default({ file: ':memory:', synchronous: 'normal' });

const loggingSection = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** `auto`: one coloured line per event on a terminal (pino-pretty), JSON lines otherwise. */
    format: z.enum(['auto', 'json', 'pretty']).default('auto'),
  })
  .strict()
  .default({ level: 'info', format: 'auto' });

/**
 * The MI listener (@sipedge/mi's schema), HTTPS (`tls: true` or an override of `tls`), and the
 * dashboard it serves at `dashboard_path` (a path outside `root`).
 */
const miSection = miConfigSchema
  .safeExtend({
    tls: httpsSwitch,
    dashboard: z.boolean().default(true),
    dashboard_path: z
      .string()
      .regex(/^\/[A-Za-z0-9_./-]*$/)
      .default('/'),
  })
  .superRefine((c, ctx) => {
    const path = c.dashboard_path.replace(/\/+$/, '');
    const root = c.root.replace(/\/+$/, '');
    if (c.dashboard && root !== '' && (path === root || path.startsWith(`${root}/`))) {
      ctx.addIssue({
        code: 'custom',
        path: ['dashboard_path'],
        message: `the dashboard path must be outside the MI root ${c.root}`,
      });
    }
  });

export const nodeConfigSchema = z
  .object({
    node: nodeSection,
    /** The node's TLS settings: every TLS listener and client uses them (see tls-config.ts). */
    tls: tlsShape.prefault({}),
    sip: sipSection,
    mi: miSection.default(miSection.parse({})),
    metrics: metricsSection,
    clusterer: clustererSection,
    usrloc: usrlocSection,
    rtp: rtpSection.optional(),
    ha: haSection.optional(),
    /** Several sites, one user location: presence of AoRs in Redis Cluster (@sipedge/federation). */
    federation: federationConfigSchema.optional(),
    storage: storageSection,
    logging: loggingSection,
  })
  .strict()
  .superRefine((c, ctx) => {
    c.clusterer.neighbours.forEach((n, i) => {
      if (n.node_id === c.node.id) {
        ctx.addIssue({
          code: 'custom',
          path: ['clusterer', 'neighbours', i, 'node_id'],
          message: `${n.node_id} is this node's own id (node.id)`,
        });
      }
    });
    const tag = c.ha === undefined ? undefined : SHARING_TAG_RE.exec(c.ha.sharing_tag);
    if (tag != null && Number(tag[2]) !== c.clusterer.cluster_id) {
      ctx.addIssue({
        code: 'custom',
        path: ['ha', 'sharing_tag'],
        message: `cluster ${tag[2]} is not this node's cluster (clusterer.cluster_id ${c.clusterer.cluster_id})`,
      });
    }
    if (c.rtp !== undefined) {
      try {
        rtpClusterConfigFrom(c.rtp);
      } catch (err) {
        const problems = (err as { problems?: readonly string[] }).problems ?? [
          (err as Error).message,
        ];
        for (const p of problems) ctx.addIssue({ code: 'custom', path: ['rtp'], message: p });
      }
    }
    if (c.sip.mode === 'edge' && c.sip.upstream === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['sip', 'upstream'],
        message: 'required when sip.mode is edge (the registrar REGISTERs go to)',
      });
    }
    for (const p of tlsProblems(c))
      ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
    const seen = new Set<string>();
    c.sip.listeners.forEach((l, i) => {
      const key = `${l.proto === 'udp' ? 'udp' : 'tcp'}:${l.address}`;
      if (seen.has(key) && !l.address.endsWith(':0')) {
        ctx.addIssue({
          code: 'custom',
          path: ['sip', 'listeners', i, 'address'],
          message: `${l.address} is used by another ${l.proto === 'udp' ? 'UDP' : 'TCP/WS'} listener`,
        });
      }
      seen.add(key);
    });
  });

export type NodeConfig = z.output<typeof nodeConfigSchema>;
export type RtpSection = z.output<typeof rtpSection>;

/**
 * The embedded balancer's configuration in rtp-cluster's shape (one cluster). rtp-cluster
 * needs an address for the cluster: the control socket when it has a fixed port, otherwise a
 * label that is never opened (no control socket, or port 0 resolved when it is bound).
 */
export function rtpClusterConfigFrom(rtp: RtpSection): RtpClusterConfig {
  const split = (spec: string) => {
    const at = spec.indexOf(':');
    return { protocol: spec.slice(0, at), address: spec.slice(at + 1) };
  };
  const fixed = rtp.control_socket !== undefined && !/:0$/.test(rtp.control_socket);
  const control = split(
    fixed ? (rtp.control_socket as string) : 'unix:/embedded/no-fixed-control-socket',
  );
  return parseRtpClusterConfig({
    clusters: [
      {
        name: rtp.name,
        ...control,
        capacity_limit: rtp.capacity_limit,
        rtpproxies: rtp.relays.map((r) => ({
          name: r.name,
          ...split(r.socket),
          weight: r.weight,
          capacity: r.capacity,
          status: r.status,
          ...(r.wan_address === undefined ? {} : { wan_address: r.wan_address }),
          ...(r.lan_address === undefined ? {} : { lan_address: r.lan_address }),
        })),
      },
    ],
  });
}
export type RelayConfig = z.output<typeof relay>;

/** The parts of a sharing tag: `vip/1=backup` → `{ name: 'vip', clusterId: 1, initial: 'backup' }`. */
export function parseSharingTagText(text: string): {
  name: string;
  clusterId: number;
  initial: 'active' | 'backup';
} {
  const m = SHARING_TAG_RE.exec(text);
  if (m === null) throw new NodeConfigError([`sharing tag "${text}" is not name/cluster_id`]);
  return {
    name: m[1] ?? '',
    clusterId: Number(m[2]),
    initial: m[3] === 'active' ? 'active' : 'backup',
  };
}

/** Splits a configured `host:port`. */
export function parseAddress(text: string): { host: string; port: number } {
  const a = splitAddress(text);
  if (a === undefined) throw new NodeConfigError([`"${text}" is not host:port`]);
  return a;
}

export const ENV_PREFIX = 'SIPEDGE_';

/**
 * Environment overrides. `SIPEDGE_<SECTION>__<KEY>[__<KEY>…]=value` sets `section.key…`:
 * the name after the prefix is lower-cased and split on double underscores, so single
 * underscores stay inside key names (`SIPEDGE_CLUSTERER__PING_INTERVAL=2` →
 * `clusterer.ping_interval = 2`). A numeric part indexes an array
 * (`SIPEDGE_RTP__RELAYS__0__WEIGHT=50`). Values are read as YAML scalars or flow collections
 * (`2` is a number, `true` a boolean, `[a, b]` a list, `"2"` a string).
 * Variables without a double underscore (`SIPEDGE_PROFILE_DIR`…) are not config and are ignored.
 * Returns the input with the overrides applied, and which env variable set which path.
 */
export function applyEnvOverrides(
  input: unknown,
  env: NodeJS.ProcessEnv,
): { config: unknown; fromEnv: Map<string, string> } {
  const root: Record<string, unknown> =
    input !== null && typeof input === 'object' && !Array.isArray(input)
      ? structuredClone(input as Record<string, unknown>)
      : {};
  const fromEnv = new Map<string, string>();
  const names = Object.keys(env)
    .filter((k) => k.startsWith(ENV_PREFIX) && k.includes('__'))
    .sort();
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).toLowerCase().split('__');
    if (path.some((p) => p === '')) {
      throw new NodeConfigError([`${name}: empty key part in the variable name`]);
    }
    let value: unknown;
    try {
      value = raw === '' ? '' : parseYaml(raw);
    } catch (err) {
      throw new NodeConfigError([`${name}: value does not parse (${(err as Error).message})`]);
    }
    let node: Record<string, unknown> | unknown[] = root;
    for (let i = 0; i < path.length; i++) {
      const part = path[i] as string;
      const last = i === path.length - 1;
      const key: string | number = Array.isArray(node) && /^\d+$/.test(part) ? Number(part) : part;
      if (Array.isArray(node) && typeof key !== 'number') {
        throw new NodeConfigError([
          `${name}: ${path.slice(0, i).join('.')} is a list, use an index`,
        ]);
      }
      if (typeof key === 'number' && Array.isArray(node) && key > node.length) {
        throw new NodeConfigError([
          `${name}: index ${key} skips entries of ${path.slice(0, i).join('.')}`,
        ]);
      }
      const container = node as Record<string | number, unknown>;
      if (last) {
        container[key] = value;
      } else {
        const next = container[key];
        if (next === undefined || next === null || typeof next !== 'object') {
          container[key] = /^\d+$/.test(path[i + 1] as string) ? [] : {};
        }
        node = container[key] as Record<string, unknown> | unknown[];
      }
    }
    fromEnv.set(keyPath(path.map((p) => (/^\d+$/.test(p) ? Number(p) : p))), name);
  }
  return { config: root, fromEnv };
}

/** `['rtp', 'relays', 0, 'name']` → `rtp.relays[0].name`. */
function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

function formatIssues(error: z.ZodError, fromEnv: ReadonlyMap<string, string>): string[] {
  return error.issues.map((issue) => {
    let path = keyPath(issue.path);
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (path === '' ? k : `${path}.${k}`));
      path = keys.join(', ');
      message = keys.length === 1 ? 'unknown key' : 'unknown keys';
      const envs = keys.map((k) => fromEnv.get(k)).filter((e) => e !== undefined);
      if (envs.length > 0) message += ` (from ${envs.join(', ')})`;
      return `${path}: ${message}`;
    }
    if (issue.code === 'invalid_type' && / received undefined$/.test(message))
      message = 'is required';
    const env = fromEnv.get(path);
    return `${path === '' ? '(top level)' : path}: ${message}${env === undefined ? '' : ` (from ${env})`}`;
  });
}

/** Validates a configuration object (after environment overrides), filling defaults. */
export function parseNodeConfig(input: unknown, env: NodeJS.ProcessEnv = {}): Readonly<NodeConfig> {
  const { config, fromEnv } = applyEnvOverrides(input, env);
  const r = nodeConfigSchema.safeParse(config);
  if (!r.success) throw new NodeConfigError(formatIssues(r.error, fromEnv), { cause: r.error });
  return deepFreeze(r.data);
}

/** Reads a YAML or JSON file (JSON is YAML), applies `env`, validates. */
export function loadNodeConfig(file: string, env: NodeJS.ProcessEnv = {}): Readonly<NodeConfig> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new NodeConfigError([`cannot read ${file}: ${(err as Error).message}`]);
  }
  let input: unknown;
  try {
    input = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new NodeConfigError([`${file} does not parse: ${(err as Error).message}`]);
  }
  return parseNodeConfig(input ?? {}, env);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
