/**
 * User location of a node: the location table on the node's SQLite file, the registrar, and
 * replication with startup sync over the clusterer (`usrloc-contact-repl`).
 */
import type { Clusterer } from '@sipedge/clusterer';
import type { MiCore } from '@sipedge/mi';
import {
  createContactStore,
  Location,
  Registrar,
  registerReplicationStatistics,
  registrarOptionsFromConfig,
  UsrlocReplicator,
  miCommands as usrlocMiCommands,
} from '@sipedge/usrloc';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import type { Cleanups } from './cleanups.js';

export interface NodeUsrloc {
  readonly location: Location;
  readonly registrar: Registrar;
  readonly replicator: UsrlocReplicator;
}

export function startUsrloc(
  config: Readonly<NodeConfig>,
  deps: {
    storageFile: string;
    clusterer: Clusterer;
    mi: MiCore;
    logger: Logger;
    cleanups: Cleanups;
  },
): NodeUsrloc {
  const { storageFile, clusterer, mi, logger, cleanups } = deps;
  const u = config.usrloc;
  const persistent = storageFile !== ':memory:' && u.sql_write_mode !== 'none';
  const location = new Location({
    nodeId: config.node.id,
    store: createContactStore(
      persistent && u.sql_write_mode !== 'none'
        ? {
            mode: u.sql_write_mode,
            path: storageFile,
            flushIntervalMs: u.timer_interval * 1000,
            fullSync: config.storage.synchronous === 'full',
          }
        : { mode: 'memory-only' },
    ),
    events: mi.events,
    stats: mi.stats,
    logger,
    timerIntervalMs: u.timer_interval * 1000,
  });
  location.start();
  cleanups.push(() => location.stop());
  const registrarOptions = registrarOptionsFromConfig({ ...u, node_id: config.node.id });
  const registrar = new Registrar(location, {
    ...registrarOptions,
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
    clusterId: config.clusterer.cluster_id,
    logger,
  });
  cleanups.push(() => replicator.close());
  registerReplicationStatistics(mi.stats, replicator);
  mi.registry.register(
    ...usrlocMiCommands(location, {
      replicator,
      dumpKvStore: u.mi_dump_kv_store,
      ...(registrarOptions.aor === undefined ? {} : { aor: registrarOptions.aor }),
    }),
  );
  logger.info(
    { contacts: location.contactCount, persistent, file: persistent ? storageFile : undefined },
    'usrloc: location table loaded',
  );
  return { location, registrar, replicator };
}
