/**
 * One cluster-node: composes the packages from a validated configuration.
 *
 * - MI core + every package's commands on one MiServer (HTTP `/mi`, WebSocket `/mi/ws`);
 * - Prometheus `/metrics` fed from the MI statistics;
 * - the clusterer (BIN over TCP, neighbours, node states, sharing tags with failover, its MI);
 * - usrloc: the location table on the node's SQLite file, the registrar, replication with
 *   startup sync (`usrloc-contact-repl`), NAT pings for the contacts this node owns;
 * - the embedded rtp-cluster balancer with the configured relays (control socket optional),
 *   its call-id table replicated (`rtp-cluster-calls`);
 * - the SIP edge (router.ts): registrar, lookup and forking, loose routing, media anchoring;
 * - HA: while this node is active for `ha.sharing_tag` it binds the service address and runs
 *   `on_active`; going backup it releases it and runs `on_backup`;
 * - stop(): drains (new requests 503, in-flight transactions finish), releases the service
 *   address, then closes everything.
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
  CallTable,
  RtpBalancer,
  raiseRtpClusterEvent,
  registerRtpClusterStatistics,
  miCommands as rtpClusterMiCommands,
} from '@sipedge/rtp-cluster';
import { RtppClient, RtppServer } from '@sipedge/rtpp';
import {
  createContactStore,
  Location,
  NatPinger,
  Registrar,
  registrarOptionsFromConfig,
  USRLOC_REPL_CAP,
  UsrlocReplicator,
  miCommands as usrlocMiCommands,
} from '@sipedge/usrloc';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CallTableReplicator } from './call-repl.js';
import {
  loadNodeConfig,
  type NodeConfig,
  parseBinListenUrl,
  rtpClusterConfigFrom,
} from './config.js';
import { runHaHook } from './ha-hooks.js';
import { MediaAnchor } from './media.js';
import { MetricsServer, statisticsRegistry } from './metrics.js';
import { Router } from './router.js';
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
  readonly location: Location;
  readonly registrar: Registrar;
  readonly replicator: UsrlocReplicator;
  readonly router: Router;
  /** Is this node active for `ha.sharing_tag` (and bound to the service address)? */
  readonly haActive: boolean;
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
    const haTag = config.ha === undefined ? undefined : config.ha.sharing_tag;
    const haKey = haTag?.replace(/=(active|backup)$/, '');
    const clustererConfig = parseClustererConfig({
      ...(haTag === undefined
        ? {}
        : { sharing_tag: [/=(active|backup)$/.test(haTag) ? haTag : `${haTag}=backup`] }),
      ...(cc.shtag_failover_holddown >= 0
        ? { shtag_failover_holddown: cc.shtag_failover_holddown }
        : {}),
      seed_fallback_interval: cc.seed_fallback_interval,
      sync_timeout: cc.sync_timeout,
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
    const clustererOptions = clustererOptionsFromConfig(clustererConfig, { transport, logger });
    if (clustererOptions.shtagFailover !== undefined && haKey !== undefined) {
      // only a node holding every registration may take the service address over
      clustererOptions.shtagFailover = {
        ...clustererOptions.shtagFailover,
        requires: { [haKey]: [USRLOC_REPL_CAP] },
      };
    }
    const clusterer = new Clusterer(clustererOptions);
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

    // usrloc: location table, registrar, replication
    const u = config.usrloc;
    const persistent = storageFile !== ':memory:' && u.sql_write_mode !== 'none';
    const location = new Location({
      nodeId: config.node.id,
      store: createContactStore(
        persistent && u.sql_write_mode !== 'none'
          ? { mode: u.sql_write_mode, path: storageFile, flushIntervalMs: u.timer_interval * 1000 }
          : { mode: 'memory-only' },
      ),
      events: mi.events,
      stats: mi.stats,
      logger,
      timerIntervalMs: u.timer_interval * 1000,
    });
    location.start();
    cleanups.push(() => location.stop());
    const registrar = new Registrar(location, {
      ...registrarOptionsFromConfig({ ...u, node_id: config.node.id }),
      ...(config.sip.domains.length === 0
        ? {}
        : {
            isLocalDomain: (h: string) =>
              config.sip.domains.some((d) => d.toLowerCase() === h.toLowerCase()),
          }),
      stats: mi.stats,
      logger,
    });
    const replicator = new UsrlocReplicator({
      location,
      clusterer,
      clusterId: cc.cluster_id,
      logger,
    });
    cleanups.push(() => replicator.close());
    mi.registry.register(...usrlocMiCommands(location, { replicator }));
    logger.info(
      { contacts: location.contactCount, persistent, file: persistent ? storageFile : undefined },
      'usrloc: location table loaded',
    );

    // rtp-cluster
    let balancer: RtpBalancer | undefined;
    const callRepl =
      config.rtp?.replicate_calls === true
        ? new CallTableReplicator(clusterer, cc.cluster_id)
        : undefined;
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
        ...(callRepl === undefined
          ? {}
          : {
              callTableFor: () => {
                const table = new CallTable({ onChange: callRepl.onChange });
                callRepl.attach(table);
                return table;
              },
            }),
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
            // plain U/L/D forwarded as text (rtp-cluster's fast path: callbacks, no promise
            // per command), the rest parsed
            textHandler: (text, _ctx, respond) => cluster.answerText(text, respond) || undefined,
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

    // SIP edge
    const sip = new SipEdge(config.sip, { logger, stats: mi.stats });
    cleanups.push(() => sip.stop());
    const cluster0 = balancer?.clusters[0];
    const router = new Router({
      config: config.sip,
      edge: sip,
      registrar,
      ...(cluster0 !== undefined && config.rtp?.anchor_media === true
        ? { media: new MediaAnchor(cluster0, logger) }
        : {}),
      ...(haKey === undefined ? {} : { serviceTag: haKey }),
      stats: mi.stats,
      logger,
    });
    sip.setHandler(router.proxy);
    const sipListeners = await sip.start();
    if (config.sip.nat_ping.enabled) {
      const np = config.sip.nat_ping;
      const localSockets = new Set(
        sipListeners.map((l) => `${l.proto === 'ws' ? 'ws' : l.proto}:${l.address}:${l.port}`),
      );
      const pinger = new NatPinger({
        location,
        send: router.sendPing,
        // a contact is pinged by the node that owns its NAT binding: the active node of its
        // sharing tag (registered on the service address), else the node whose socket took it
        owns: (c) => {
          if (c.shtag !== null) {
            try {
              return clusterer.shtagState(c.shtag) === 'active';
            } catch {
              return false;
            }
          }
          return c.socket === null || localSockets.has(c.socket);
        },
        kind: np.kind,
        intervalMs: np.interval * 1000,
        timeoutMs: np.timeout * 1000,
        removeAfterLost: np.remove_after_lost,
        pingAll: np.all_contacts,
        stats: mi.stats,
        logger,
      });
      pinger.start();
      cleanups.push(() => pinger.stop());
    }

    // HA: the service address follows the sharing tag
    let haActive = false;
    let haChain: Promise<void> = Promise.resolve();
    const ha = config.ha;
    // The address may not be bindable at once: the hook that adds it to an interface runs
    // first, or the previous owner still holds it for a moment (a loopback address, or the old
    // owner has not heard the news yet). While active and unbound, binding is retried.
    let bindRetry: NodeJS.Timeout | undefined;
    const tryBind = async (reason: string): Promise<void> => {
      if (ha === undefined || !haActive || sip.service !== undefined) return;
      try {
        await sip.bindService(ha.service_address);
        logger.info(
          { sharing_tag: haKey, service_address: ha.service_address, reason },
          'ha: active, service address bound',
        );
      } catch (err) {
        logger.warn(
          { err: (err as Error).message, service_address: ha.service_address },
          'ha: active but the service address cannot be bound yet; retrying every 250 ms',
        );
        bindRetry ??= setTimeout(() => {
          bindRetry = undefined;
          haChain = haChain.then(() => tryBind('retry'));
        }, 250);
      }
    };
    cleanups.push(() => {
      if (bindRetry !== undefined) clearTimeout(bindRetry);
    });
    const applyHa = (state: 'active' | 'backup', reason: string) => {
      if (ha === undefined || haKey === undefined) return;
      haChain = haChain.then(async () => {
        const want = state === 'active';
        if (want === haActive && reason !== 'startup') return;
        haActive = want;
        if (want) {
          // on_active first: it may be what makes the address bindable (`ip addr add`)
          if (ha.on_active !== undefined) {
            await runHaHook(
              ha.on_active,
              { state, sharingTag: haKey, serviceAddress: ha.service_address },
              { logger },
            );
          }
          await tryBind(reason);
        } else {
          if (bindRetry !== undefined) clearTimeout(bindRetry);
          bindRetry = undefined;
          await sip.releaseService();
          logger.info({ sharing_tag: haKey, reason }, 'ha: backup, service address released');
          if (ha.on_backup !== undefined) {
            await runHaHook(
              ha.on_backup,
              { state, sharingTag: haKey, serviceAddress: ha.service_address },
              { logger },
            );
          }
        }
      });
    };
    if (haKey !== undefined) {
      const off = clusterer.onShtagChange((e) => {
        if (`${e.name}/${e.clusterId}` === haKey) applyHa(e.state, e.reason);
      });
      cleanups.push(() => off());
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
          mode: current.sip.mode,
          contacts: location.contactCount,
          usrloc_synced: replicator.synced,
          service_address: current.ha?.service_address ?? null,
          sharing_tag: haKey ?? null,
          ha_state: haKey === undefined ? null : haActive ? 'active' : 'backup',
          draining: router.proxy.draining,
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
    if (haKey !== undefined) applyHa(clusterer.shtagState(haKey), 'startup');
    await haChain;
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
      location,
      registrar,
      replicator,
      router,
      get haActive() {
        return haActive;
      },
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
          logger.info({}, 'stopping: draining');
          mi.status.group('core').identifier('main').setStatus(-1, 'shutting down');
          // drain: no new transactions; hand the service address over; let in-flight finish
          router.proxy.drain();
          if (haActive) {
            haActive = false;
            await sip.releaseService();
            logger.info({ sharing_tag: haKey }, 'ha: service address released for the drain');
          }
          // in flight = proxied requests still waiting for their final answer
          const idle = await sip.idle(
            current.sip.drain_timeout * 1000,
            () => router.proxy.inFlight,
          );
          if (!idle) logger.warn({}, 'drain timeout: transactions still alive are dropped');
          // what was replicated just before the stop reaches the peers before the links close
          clusterer.stop();
          const flushed = await transport.flush(1000);
          if (!flushed) logger.warn({}, 'BIN links not flushed within 1 s');
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
