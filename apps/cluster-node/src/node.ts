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
 * - the SIP edge: @sipedge/sip's stateful proxy with this node's routing policy (router.ts):
 *   registrar, lookup and forking, loose routing, media anchoring;
 * - federation (optional): the site's AoRs published to Redis Cluster by the holder of the
 *   `vip` tag, other sites asked on a local miss (wiring/federation.ts);
 * - HA: while this node is active for `ha.sharing_tag` it binds the service address and runs
 *   `on_active`; going backup it releases it and runs `on_backup`;
 * - stop(): drains (new requests 503, in-flight transactions finish), releases the service
 *   address, then closes everything.
 *
 * Each part is started by its module in wiring/, with what it needs passed in; startNode is
 * the order they start in.
 */
import type { Clusterer } from '@sipedge/clusterer';
import type { Federation } from '@sipedge/federation';
import {
  createMiCore,
  defineCommand,
  LOG_LEVELS,
  type LogLevelControl,
  type MiCore,
} from '@sipedge/mi';
import type { RtpBalancer } from '@sipedge/rtp-cluster';
import type { Location, Registrar, UsrlocReplicator } from '@sipedge/usrloc';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { z } from 'zod';
import { loadNodeConfig, type NodeConfig, rtpClusterConfigFrom } from './config.js';
import type { Router } from './router.js';
import type { SipEdge, SipListenerInfo } from './sip-edge.js';
import { Cleanups } from './wiring/cleanups.js';
import { createClusterer } from './wiring/clusterer.js';
import { startFederation } from './wiring/federation.js';
import { ServiceAddress } from './wiring/ha.js';
import { startMetrics, startMiServer } from './wiring/management.js';
import { startMedia } from './wiring/rtp.js';
import { startSip } from './wiring/sip.js';
import { openStorage, resolvePath } from './wiring/storage.js';
import { NodeTls } from './wiring/tls.js';
import { startUsrloc } from './wiring/usrloc.js';

export interface StartNodeOptions {
  logger: Logger;
  /** The config file, for SIGHUP reloads and to resolve relative paths. */
  configFile?: string;
  /** Environment used for overrides on reload (default process.env). */
  env?: NodeJS.ProcessEnv;
  version?: string;
  /** The built dashboard (default `dist/public` of this package). */
  dashboardDir?: string;
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
  /** The federation of sites, when configured. */
  readonly federation?: Federation;
  readonly rtpControlSockets: readonly string[];
  /** The node's SQLite file (stamped with its id): the seam for usrloc's store. */
  readonly storage: Database.Database;
  /** Re-read the config file; applies what the packages can change at run time. */
  reload(): Promise<ReloadOutcome>;
  /** Graceful, idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function levelIndex(level: string): number {
  for (const [n, name] of Object.entries(LOG_LEVELS)) if (name === level) return Number(n);
  return 3;
}

/** The MI core of a node, its log level changeable at run time. */
function createNodeMi(logger: Logger, version: string | undefined): MiCore {
  const logLevel: LogLevelControl = {
    get: () => levelIndex(logger.level),
    set: (n) => {
      logger.level = LOG_LEVELS[n] ?? 'info';
    },
  };
  return createMiCore({
    logger,
    server: 'cluster-node (sipedge)',
    ...(version === undefined ? {} : { version }),
    logLevel,
  });
}

/** Starts every part of a node; on a failure the parts already started are stopped. */
export async function startNode(
  config: Readonly<NodeConfig>,
  options: StartNodeOptions,
): Promise<ClusterNode> {
  const logger = options.logger;
  const cleanups = new Cleanups(logger);
  try {
    let current = config;
    const mi = createNodeMi(logger, options.version);
    const tls = new NodeTls(config, options.configFile);

    const storageFile = resolvePath(config.storage.file, options.configFile);
    const db = openStorage(storageFile, config.node.id);
    cleanups.push(() => {
      db.close();
    });

    const { clusterer, transport, binAddress, haKey } = await createClusterer(config, {
      mi,
      logger,
      configFile: options.configFile,
      cleanups,
      tls,
    });
    const usrloc = startUsrloc(config, { storageFile, clusterer, mi, logger, cleanups });
    const federation = startFederation(config, {
      location: usrloc.location,
      clusterer,
      haKey,
      mi,
      logger,
      cleanups,
    });
    const media =
      config.rtp === undefined
        ? undefined
        : await startMedia(config, config.rtp, {
            clusterer,
            mi,
            logger,
            reloadConfig: () => reloadConfig(options, current),
            cleanups,
          });
    const balancer = media?.balancer;
    const rtpControlSockets = media?.rtpControlSockets ?? [];
    const { sip, router, sipListeners } = await startSip(config, {
      location: usrloc.location,
      registrar: usrloc.registrar,
      clusterer,
      balancer,
      haKey,
      mi,
      logger,
      cleanups,
      tls,
      federation: federation?.routing,
    });

    const service =
      config.ha === undefined || haKey === undefined
        ? undefined
        : new ServiceAddress(config.ha, haKey, sip, logger);
    service?.follow(clusterer, cleanups);

    mi.registry.register(
      defineCommand({
        name: 'node_info',
        readOnly: true,
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
          contacts: usrloc.location.contactCount,
          usrloc_synced: usrloc.replicator.synced,
          service_address: current.ha?.service_address ?? null,
          sharing_tag: haKey ?? null,
          ha_state: service === undefined ? null : service.active ? 'active' : 'backup',
          draining: router.proxy.draining,
        }),
      }),
    );
    const miUrl = await startMiServer(config, {
      mi,
      logger,
      cleanups,
      tls,
      ...(options.dashboardDir === undefined ? {} : { dashboardDir: options.dashboardDir }),
    });
    const metricsUrl = await startMetrics(config, {
      mi,
      cleanups,
      tls,
      build: {
        version: options.version ?? 'unknown',
        commit: (options.env ?? process.env).SIPEDGE_COMMIT,
      },
    });

    clusterer.start();
    cleanups.push(() => clusterer.stop());
    if (service !== undefined && haKey !== undefined) {
      service.apply(clusterer.shtagState(haKey), 'startup');
      await service.settled();
    }
    federation?.settle();
    mi.status.group('core').identifier('main').setStatus(1, 'running');

    /** Drain (new requests 503, the service address handed over), then close everything. */
    const shutdown = async (): Promise<void> => {
      logger.info({}, 'stopping: draining');
      mi.status.group('core').identifier('main').setStatus(-1, 'shutting down');
      router.proxy.drain();
      await service?.releaseForDrain();
      // in flight = proxied requests still waiting for their final answer
      const idle = await sip.idle(current.sip.drain_timeout * 1000, () => router.proxy.inFlight);
      if (!idle) logger.warn({}, 'drain timeout: transactions still alive are dropped');
      // what was replicated just before the stop reaches the peers before the links close
      clusterer.stop();
      const flushed = await transport.flush(1000);
      if (!flushed) logger.warn({}, 'BIN links not flushed within 1 s');
      await cleanups.run();
      logger.info({}, 'stopped');
    };

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
      location: usrloc.location,
      registrar: usrloc.registrar,
      replicator: usrloc.replicator,
      router,
      get haActive() {
        return service?.active === true;
      },
      ...(balancer === undefined ? {} : { balancer }),
      ...(federation === undefined ? {} : { federation: federation.federation }),
      rtpControlSockets,
      storage: db,
      async reload() {
        const next = reloadConfig(options, current);
        // the certificate files are re-read first: a bad one fails the reload, nothing changed
        const renewed = tls.reload(logger);
        const outcome = await applyReload(current, next, { balancer, logger });
        current = outcome.config;
        return {
          applied: [...renewed, ...outcome.applied],
          needsRestart: outcome.needsRestart,
        };
      },
      stop() {
        stopping ??= shutdown();
        return stopping;
      },
      [Symbol.asyncDispose]() {
        return handle.stop();
      },
    };
    return handle;
  } catch (err) {
    await cleanups.run();
    throw err;
  }
}

/**
 * Applies what changed between two configurations where the packages can change it at run
 * time (the log level, the relays); the other changed sections keep their old value and are
 * reported as needing a restart.
 */
async function applyReload(
  current: Readonly<NodeConfig>,
  next: Readonly<NodeConfig>,
  deps: { balancer: RtpBalancer | undefined; logger: Logger },
): Promise<ReloadOutcome & { config: Readonly<NodeConfig> }> {
  const { balancer, logger } = deps;
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
  if (needsRestart.length > 0) {
    logger.warn({ sections: needsRestart }, 'reload: these sections changed and need a restart');
  }
  logger.info({ applied }, 'configuration reloaded');
  return { applied, needsRestart, config: Object.freeze(kept) as Readonly<NodeConfig> };
}

function reloadConfig(
  options: StartNodeOptions,
  current: Readonly<NodeConfig>,
): Readonly<NodeConfig> {
  if (options.configFile === undefined) return current;
  return loadNodeConfig(options.configFile, options.env ?? process.env);
}
