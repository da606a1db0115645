/**
 * Media of a node: the embedded rtp-cluster balancer over the configured relays, its call-id
 * table replicated over the clusterer (`rtp-cluster-calls`), its MI commands and statistics,
 * and the optional rtpproxy control socket that Kamailio/OpenSIPS can use.
 */
import type { Clusterer } from '@sipedge/clusterer';
import type { MiCore } from '@sipedge/mi';
import {
  balancerParseErrorCode,
  CallTable,
  RtpBalancer,
  raiseRtpClusterEvent,
  registerControlSocketStatistics,
  registerRtpClusterStatistics,
  miCommands as rtpClusterMiCommands,
} from '@sipedge/rtp-cluster';
import {
  commandSource,
  LOOPBACK_SOURCES,
  RtppClient,
  RtppServer,
  reachableBeyondLoopback,
} from '@sipedge/rtpp';
import type { Logger } from 'pino';
import { CallTableReplicator } from '../call-repl.js';
import { type NodeConfig, type RtpSection, rtpClusterConfigFrom } from '../config.js';
import type { Cleanups } from './cleanups.js';

/** Member command budget: below a SIP proxy's 1 s per-try timeout. */
const MEMBER_TIMEOUT_MS = 800;

export interface NodeMedia {
  readonly balancer: RtpBalancer;
  /** The control sockets bound (`udp:127.0.0.1:22230`), none without `control_socket`. */
  readonly rtpControlSockets: readonly string[];
}

export async function startMedia(
  config: Readonly<NodeConfig>,
  rtp: RtpSection,
  deps: {
    clusterer: Clusterer;
    mi: MiCore;
    logger: Logger;
    /** The configuration as the file says now (MI `rtp_cluster_reload`). */
    reloadConfig: () => Readonly<NodeConfig>;
    cleanups: Cleanups;
  },
): Promise<NodeMedia> {
  const { mi, logger, cleanups } = deps;
  const callRepl =
    rtp.replicate_calls === true
      ? new CallTableReplicator(deps.clusterer, config.clusterer.cluster_id)
      : undefined;
  const balancer = new RtpBalancer(rtpClusterConfigFrom(rtp), {
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
    maxSessionsPerSource: rtp.max_sessions_per_source,
    onEvent: (e) => {
      logger.info(e, `rtp relay ${e.member} in ${e.cluster}: ${e.type.replace('_', ' ')}`);
      raiseRtpClusterEvent(mi.events, e);
    },
  });
  const rtpControlSockets: string[] = [];
  mi.registry.register(
    ...rtpClusterMiCommands(balancer, {
      // the balancer's own address is a placeholder: show what really listens
      controlSockets: () => rtpControlSockets,
      reload: async () => {
        const next = deps.reloadConfig();
        if (next.rtp === undefined) throw new Error('rtp section removed: restart needed');
        const r = await balancer.reload(rtpClusterConfigFrom(next.rtp));
        return { clusters: r.clusters, members: r.members };
      },
    }),
  );
  registerRtpClusterStatistics(mi.stats, balancer);
  await balancer.start();
  cleanups.push(() => balancer.stop());
  const servers: RtppServer[] = [];
  registerControlSocketStatistics(mi.stats, () => servers);
  if (rtp.control_socket !== undefined) {
    for (const cluster of balancer.clusters) {
      const server = new RtppServer({
        sockets: [rtp.control_socket],
        // each sender is held to its cap of calls, and its X deletes only its own calls
        handler: (cmd, ctx) => cluster.handle(cmd, commandSource(ctx)),
        // plain U/L/D forwarded as text (rtp-cluster's fast path: callbacks, no promise
        // per command), the rest parsed
        textHandler: (text, ctx, respond) =>
          cluster.answerText(text, respond, commandSource(ctx)) || undefined,
        parseErrorCode: balancerParseErrorCode,
        allowedSources: [...LOOPBACK_SOURCES, ...rtp.control_allowed_sources],
        maxConnectionsPerSource: rtp.control_max_connections_per_source,
        idleTimeoutMs: rtp.control_idle_timeout * 1000,
        logger,
      });
      await server.start();
      servers.push(server);
      cleanups.push(() => server.stop());
      for (const a of server.addresses()) rtpControlSockets.push(a.spec);
    }
    logger.info({ sockets: rtpControlSockets }, 'rtp-cluster control socket listening');
    if (reachableBeyondLoopback(rtp.control_socket) && rtp.control_allowed_sources.length === 0) {
      logger.warn(
        { socket: rtp.control_socket },
        'rtp control socket reachable from other hosts, but only loopback may send commands: set rtp.control_allowed_sources',
      );
    }
  }
  return { balancer, rtpControlSockets };
}
