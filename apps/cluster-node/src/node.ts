/**
 * One cluster-node: composes the packages from a validated configuration.
 *
 * - MI core + every package's commands on one MiServer (HTTP `/mi`, WebSocket `/mi/ws`);
 * - Prometheus `/metrics` fed from the MI statistics;
 * - the clusterer (BIN over TCP, neighbours, node states, its MI);
 * - the embedded rtp-cluster balancer with the configured relays (control socket optional);
 * - the SIP listeners with the 501 placeholder (seam for the registrar/proxy, see sip-edge.ts);
 * - the SQLite storage file, stamped with this node's id.
 *
 * Not wired yet (seams): usrloc (registrar and replication), data sync, sharing tags and the
 * HA hooks — their packages are being written.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  Clusterer,
  ClustererMi,
  clustererOptionsFromConfig,
  type NodeStateEvent,
  parseClustererConfig,
  TcpBinTransport,
} from '@sipedge/clusterer';
import {
  createMiCore,
  defineCommand,
  LOG_LEVELS,
  type LogLevelControl,
  type MiCore,
  MiServer,
  miServerOptions,
} from '@sipedge/mi';
import {
  balancerParseErrorCode,
  RtpBalancer,
  raiseRtpClusterEvent,
  registerRtpClusterStatistics,
  miCommands as rtpClusterMiCommands,
} from '@sipedge/rtp-cluster';
import { RtppClient, RtppServer } from '@sipedge/rtpp';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  loadNodeConfig,
  type NodeConfig,
  parseBinListenUrl,
  rtpClusterConfigFrom,
} from './config.js';
import { MetricsServer, statisticsRegistry } from './metrics.js';
import { SipEdge, type SipListenerInfo } from './sip-edge.js';

export interface StartNodeOptions {
  logger: Logger;
  /** The config file, for SIGHUP reloads and to resolve relative paths. */
  configFile?: string;
  /** Environment used for overrides on reload (default process.env). */
  env?: NodeJS.ProcessEnv;
  version?: string;
}

export interface ReloadOutcome {
  applied: string[];
  needsRestart: string[];
}

export interface ClusterNode {
  readonly config: Readonly<NodeConfig>;
  readonly mi: MiCore;
  readonly miUrl: string;
  readonly metricsUrl?: string;
  readonly sip: SipEdge;
  readonly sipListeners: readonly SipListenerInfo[];
  readonly clusterer: Clusterer;
  readonly binAddress: string;
  readonly balancer?: RtpBalancer;
  readonly rtpControlSockets: readonly string[];
  /** The node's SQLite file (stamped with its id): the seam for usrloc's store. */
  readonly storage: Database.Database;
  /** Re-read the config file; applies what the packages can change at run time. */
  reload(): Promise<ReloadOutcome>;
  /** Graceful, idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Member command budget: below a SIP proxy's 1 s per-try timeout. */
const MEMBER_TIMEOUT_MS = 800;

function resolvePath(file: string, configFile: string | undefined): string {
  if (file === ':memory:' || isAbsolute(file) || configFile === undefined) return file;
  return resolve(dirname(configFile), file);
}

/** Opens the node's SQLite file and checks it belongs to this node (or stamps it). */
function openStorage(file: string, nodeId: number): Database.Database {
  const db = new Database(file);
  if (file !== ':memory:') db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS sipedge_node (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)',
  );
  const row = db.prepare('SELECT value FROM sipedge_node WHERE key = ?').get('node_id') as
    | { value: string }
    | undefined;
  if (row !== undefined && row.value !== String(nodeId)) {
    db.close();
    throw new Error(
      `storage.file ${file} belongs to node ${row.value}, not to node.id ${nodeId}: give each node its own file`,
    );
  }
  db.prepare('INSERT OR REPLACE INTO sipedge_node (key, value) VALUES (?, ?)').run(
    'node_id',
    String(nodeId),
  );
  db.prepare('INSERT OR REPLACE INTO sipedge_node (key, value) VALUES (?, ?)').run(
    'started_at',
    new Date().toISOString(),
  );
  return db;
}

function clustererNodeInfo(c: NodeConfig['clusterer'], nodeId: number, url: string) {
  return {
    my_node_info: [
      `cluster_id=${c.cluster_id},node_id=${nodeId},url=${url}${c.seed ? ',flags=seed' : ''}`,
    ],
    neighbor_node_info: c.neighbours.map(
      (n) => `cluster_id=${c.cluster_id},node_id=${n.node_id},url=${n.url}`,
    ),
  };
}

function levelIndex(level: string): number {
  for (const [n, name] of Object.entries(LOG_LEVELS)) if (name === level) return Number(n);
  return 3;
}

/** Starts every part of a node; on a failure the parts already started are stopped. */
export async function startNode(
  config: Readonly<NodeConfig>,
  options: StartNodeOptions,
): Promise<ClusterNode> {
  const logger = options.logger;
  const cleanups: Array<() => Promise<void> | void> = [];
  const unwind = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        logger.warn({ err }, 'cleanup after a failed start');
      }
    }
  };
  try {
    let current = config;
    const logLevel: LogLevelControl = {
      get: () => levelIndex(logger.level),
      set: (n) => {
        logger.level = LOG_LEVELS[n] ?? 'info';
      },
    };
    const mi = createMiCore({
      logger,
      server: 'cluster-node (sipedge)',
      ...(options.version === undefined ? {} : { version: options.version }),
      logLevel,
    });

    // storage
    const storageFile = resolvePath(config.storage.file, options.configFile);
    const db = openStorage(storageFile, config.node.id);
    cleanups.push(() => {
      db.close();
    });

    // clusterer
    const listen = parseBinListenUrl(config.clusterer.listen);
    let clustererRef: Clusterer | undefined;
    const transport = new TcpBinTransport({
      listen,
      logger,
      ...(config.clusterer.accept_unknown_hosts
        ? {}
        : { acceptFrom: (host: string) => clustererRef?.isKnownHost(host) === true }),
    });
    const bound = await transport.listen();
    cleanups.push(() => transport.close());
    const cc = config.clusterer;
    const binAddress = `${listen.proto}:${bound.host.includes(':') ? `[${bound.host}]` : bound.host}:${bound.port}`;
    const clustererConfig = parseClustererConfig({
      db_mode: cc.db_mode,
      my_node_id: config.node.id,
      ...(cc.db_mode === 0 ? clustererNodeInfo(cc, config.node.id, binAddress) : {}),
      ...(cc.db_mode === 1
        ? { db_url: resolvePath(cc.db_url ?? config.storage.file, options.configFile) }
        : {}),
      ping_interval: cc.ping_interval,
      ping_timeout: cc.ping_timeout,
      node_timeout: cc.node_timeout,
      enable_rerouting: cc.enable_rerouting,
    });
    const clusterer = new Clusterer(
      clustererOptionsFromConfig(clustererConfig, { transport, logger }),
    );
    clustererRef = clusterer;
    cleanups.push(() => clusterer.destroy());
    const clustererMi = new ClustererMi(clusterer, {
      registry: mi.registry,
      events: mi.events,
      status: mi.status,
      stats: mi.stats,
    });
    cleanups.push(() => clustererMi.close());
    mi.registry.register(...clustererMi.commands());
    clusterer.on('node_state', (e: NodeStateEvent) =>
      logger.info(e, `cluster ${e.clusterId} node ${e.nodeId} ${e.up ? 'up' : 'down'}`),
    );

    // rtp-cluster
    let balancer: RtpBalancer | undefined;
    const rtpControlSockets: string[] = [];
    const rtpServers: RtppServer[] = [];
    if (config.rtp !== undefined) {
      const rtp = config.rtp;
      balancer = new RtpBalancer(rtpClusterConfigFrom(rtp), {
        connect: (m) =>
          new RtppClient({
            socket: `${m.protocol}:${m.address}`,
            timeoutMs: MEMBER_TIMEOUT_MS,
            logger,
          }),
        logger,
        member: { heartbeatIntervalMs: rtp.heartbeat_interval },
        onEvent: (e) => {
          logger.info(e, `rtp relay ${e.member} in ${e.cluster}: ${e.type.replace('_', ' ')}`);
          raiseRtpClusterEvent(mi.events, e);
        },
      });
      const b = balancer;
      mi.registry.register(
        ...rtpClusterMiCommands(b, {
          reload: async () => {
            const next = reloadConfig(options, current);
            if (next.rtp === undefined) throw new Error('rtp section removed: restart needed');
            const r = await b.reload(rtpClusterConfigFrom(next.rtp));
            return { clusters: r.clusters, members: r.members };
          },
        }),
      );
      registerRtpClusterStatistics(mi.stats, b);
      await b.start();
      cleanups.push(() => b.stop());
      if (rtp.control_socket !== undefined) {
        for (const cluster of b.clusters) {
          const server = new RtppServer({
            sockets: [rtp.control_socket],
            handler: (cmd) => cluster.handle(cmd),
            parseErrorCode: balancerParseErrorCode,
            logger,
          });
          await server.start();
          rtpServers.push(server);
          cleanups.push(() => server.stop());
          for (const a of server.addresses()) rtpControlSockets.push(a.spec);
        }
        logger.info({ sockets: rtpControlSockets }, 'rtp-cluster control socket listening');
      }
    }

    // SIP (placeholder handler: 501)
    const sip = new SipEdge(config.sip, { logger, stats: mi.stats });
    cleanups.push(() => sip.stop());
    const sipListeners = await sip.start();

    // HA seam
    if (config.ha !== undefined) {
      logger.warn(
        { sharing_tag: config.ha.sharing_tag, service_address: config.ha.service_address },
        'ha: sharing tags are not wired yet; the service address is not bound and on_active/on_backup are not run',
      );
    }

    // node-level MI
    mi.registry.register(
      defineCommand({
        name: 'node_info',
        description: 'This cluster-node: id, name, listeners and what is wired',
        params: z.object({}),
        handler: () => ({
          node_id: current.node.id,
          name: current.node.name ?? `node${current.node.id}`,
          cluster_id: current.clusterer.cluster_id,
          bin: binAddress,
          sip: sipListeners.map((l) => `${l.proto}:${l.address}:${l.port}`),
          rtp_control: rtpControlSockets,
          storage: storageFile,
          registrar: 'not implemented (SIP requests answered 501)',
          sharing_tags: 'not implemented',
        }),
      }),
    );

    // MI server
    const miServer = new MiServer({
      registry: mi.registry,
      events: mi.events,
      stats: mi.stats,
      logger,
      ...miServerOptions(config.mi),
    });
    const miAddr = await miServer.start();
    cleanups.push(() => miServer.stop());
    const hostText = (h: string) => (h.includes(':') ? `[${h}]` : h);
    const miUrl = `http://${hostText(miAddr.address)}:${miAddr.port}${config.mi.root}`;

    // metrics
    let metricsUrl: string | undefined;
    if (config.metrics.enabled) {
      const prom = statisticsRegistry(mi.stats, { processMetrics: config.metrics.process_metrics });
      const metricsServer = new MetricsServer({
        host: config.metrics.host,
        port: config.metrics.port,
        path: config.metrics.path,
        metrics: prom.metrics,
        contentType: prom.registry.contentType,
      });
      const a = await metricsServer.start();
      cleanups.push(() => metricsServer.stop());
      metricsUrl = `http://${hostText(a.address)}:${a.port}${config.metrics.path}`;
    }

    clusterer.start();
    cleanups.push(() => clusterer.stop());
    mi.status.group('core').identifier('main').setStatus(1, 'running');

    let stopping: Promise<void> | undefined;
    const handle: ClusterNode = {
      get config() {
        return current;
      },
      mi,
      miUrl,
      ...(metricsUrl === undefined ? {} : { metricsUrl }),
      sip,
      sipListeners,
      clusterer,
      binAddress,
      ...(balancer === undefined ? {} : { balancer }),
      rtpControlSockets,
      storage: db,
      async reload() {
        const next = reloadConfig(options, current);
        const applied: string[] = [];
        const needsRestart: string[] = [];
        for (const key of Object.keys(next) as Array<keyof NodeConfig>) {
          if (JSON.stringify(next[key]) === JSON.stringify(current[key])) continue;
          if (key === 'logging' && next.logging.format === current.logging.format) {
            logger.level = next.logging.level;
            applied.push('logging.level');
          } else if (
            key === 'rtp' &&
            balancer !== undefined &&
            next.rtp !== undefined &&
            next.rtp.control_socket === current.rtp?.control_socket &&
            next.rtp.name === current.rtp?.name
          ) {
            const r = await balancer.reload(rtpClusterConfigFrom(next.rtp));
            logger.info(r, 'rtp relays reloaded');
            applied.push('rtp');
          } else {
            needsRestart.push(key);
          }
        }
        const kept: Record<string, unknown> = { ...next };
        for (const k of needsRestart) kept[k] = current[k as keyof NodeConfig];
        current = Object.freeze(kept) as Readonly<NodeConfig>;
        if (needsRestart.length > 0) {
          logger.warn(
            { sections: needsRestart },
            'reload: these sections changed and need a restart',
          );
        }
        logger.info({ applied }, 'configuration reloaded');
        return { applied, needsRestart };
      },
      stop() {
        stopping ??= (async () => {
          logger.info({}, 'stopping');
          mi.status.group('core').identifier('main').setStatus(-1, 'shutting down');
          await unwind();
          logger.info({}, 'stopped');
        })();
        return stopping;
      },
      [Symbol.asyncDispose]() {
        return handle.stop();
      },
    };
    return handle;
  } catch (err) {
    await unwind();
    throw err;
  }
}

function reloadConfig(
  options: StartNodeOptions,
  current: Readonly<NodeConfig>,
): Readonly<NodeConfig> {
  if (options.configFile === undefined) return current;
  return loadNodeConfig(options.configFile, options.env ?? process.env);
}
