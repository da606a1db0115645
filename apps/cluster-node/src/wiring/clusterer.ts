/**
 * The clusterer of a node: its BIN listener, the clusterer configured from the node's
 * `clusterer` and `ha` sections (the HA sharing tag, which only a node holding every
 * registration may take over), and its MI commands.
 */
import {
  type BinTlsOptions,
  Clusterer,
  ClustererMi,
  clustererOptionsFromConfig,
  type NodeStateEvent,
  parseClustererConfig,
  TcpBinTransport,
} from '@sipedge/clusterer';
import type { TlsMaterial } from '@sipedge/core';
import type { MiCore } from '@sipedge/mi';
import { USRLOC_REPL_CAP } from '@sipedge/usrloc';
import type { Logger } from 'pino';
import { type NodeConfig, parseBinListenUrl } from '../config.js';
import type { Cleanups } from './cleanups.js';
import { resolvePath } from './storage.js';
import type { NodeTls } from './tls.js';

export interface NodeClusterer {
  readonly clusterer: Clusterer;
  readonly transport: TcpBinTransport;
  /** The bound BIN listener, `bin:host:port`. */
  readonly binAddress: string;
  /** The HA sharing tag without its initial state (`vip/1`), if the node has one. */
  readonly haKey: string | undefined;
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

/**
 * The BIN transport's TLS options: the listener's (certificate, CA list, client verification)
 * and the server verification of the connections it opens.
 */
function binTls(m: TlsMaterial): BinTlsOptions {
  return { ...(m.server as BinTlsOptions), verifyServer: m.client.rejectUnauthorized !== false };
}

/** Binds the BIN listener and makes the clusterer (not started: the node starts it last). */
export async function createClusterer(
  config: Readonly<NodeConfig>,
  deps: {
    mi: MiCore;
    logger: Logger;
    configFile: string | undefined;
    cleanups: Cleanups;
    tls: NodeTls;
  },
): Promise<NodeClusterer> {
  const { mi, logger, cleanups } = deps;
  const cc = config.clusterer;
  const listen = parseBinListenUrl(cc.listen);
  let clustererRef: Clusterer | undefined;
  const knownHost = (host: string): boolean => clustererRef?.isKnownHost(host) === true;
  // bins: mutual TLS, one set of options for the listener and the connections it opens
  const tls = deps.tls.material('clusterer');
  const transport = new TcpBinTransport({
    listen,
    logger,
    ...(tls === undefined ? {} : { tls: binTls(tls) }),
    ...(cc.accept_unknown_hosts ? {} : { acceptFrom: knownHost }),
    nodeHost: knownHost,
    firstPacketTimeout: cc.first_packet_timeout,
    maxPendingPerHost: cc.max_pending_per_host,
    maxPendingUnknown: cc.max_pending_unknown,
    maxConnectionsPerNode: cc.max_connections_per_node,
  });
  const bound = await transport.listen();
  cleanups.push(() => transport.close());
  deps.tls.onReload('clusterer', (m) => transport.setSecureContext(binTls(m)));
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
      ? { db_url: resolvePath(cc.db_url ?? config.storage.file, deps.configFile) }
      : {}),
    ping_interval: cc.ping_interval,
    ping_timeout: cc.ping_timeout,
    node_timeout: cc.node_timeout,
    enable_rerouting: cc.enable_rerouting,
    ...(cc.auth_secret === undefined ? {} : { auth_secret: cc.auth_secret }),
  });
  const clustererOptions = clustererOptionsFromConfig(clustererConfig, { transport, logger });
  if (clustererOptions.shtagFailover !== undefined && haKey !== undefined) {
    // only a node holding every registration may take the service address over
    clustererOptions.shtagFailover = {
      ...clustererOptions.shtagFailover,
      requires: { [haKey]: [USRLOC_REPL_CAP] },
    };
  }
  const tlsNames = new Map<number, string>();
  for (const n of cc.neighbours) if (n.tls_name !== undefined) tlsNames.set(n.node_id, n.tls_name);
  if (tlsNames.size > 0) clustererOptions.tlsNames = tlsNames;
  const clusterer = new Clusterer(clustererOptions);
  clustererRef = clusterer;
  cleanups.push(() => clusterer.destroy());
  const clustererMi = new ClustererMi(clusterer, {
    registry: mi.registry,
    events: mi.events,
    status: mi.status,
    stats: mi.stats,
    remoteMi: cc.remote_mi,
    transport,
  });
  cleanups.push(() => clustererMi.close());
  mi.registry.register(...clustererMi.commands());
  clusterer.on('node_state', (e: NodeStateEvent) =>
    logger.info(e, `cluster ${e.clusterId} node ${e.nodeId} ${e.up ? 'up' : 'down'}`),
  );
  return { clusterer, transport, binAddress, haKey };
}
