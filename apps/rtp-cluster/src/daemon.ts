/**
 * The `rtp-cluster` daemon: reads the configuration, opens one rtpproxy control socket per
 * cluster, connects the members, serves the admin CLI socket, keeps the call-id table in
 * SQLite, and drains on SIGTERM.
 */

import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Logger } from '@sipedge/core';
import { createMiCore, MiServer } from '@sipedge/mi';
import {
  AdminServer,
  balancerParseErrorCode,
  CallTable,
  DisconnectRelay,
  type MemberConfig,
  miCommands,
  RtpBalancer,
  type RtpCluster,
  type RtpClusterConfig,
  raiseRtpClusterEvent,
  registerControlSocketStatistics,
  registerRtpClusterStatistics,
  splitHostPort,
} from '@sipedge/rtp-cluster';
import {
  commandSource,
  LOOPBACK_SOURCES,
  RtppClient,
  RtppServer,
  reachableBeyondLoopback,
} from '@sipedge/rtpp';
import { CallStore } from './call-store.js';
import { type DaemonOptions, readConfigFile } from './options.js';

export interface DaemonHandle {
  readonly balancer: RtpBalancer;
  /** `http://host:port/mi` when --mi was given. */
  readonly miUrl?: string;
  /** Control sockets as bound, per cluster name (ports resolved when 0 was asked for). */
  readonly controlSockets: ReadonlyMap<string, string[]>;
  reload(): Promise<{ clusters: number; members: number }>;
  stop(): Promise<void>;
}

/** Member command budget: below a SIP proxy's 1 s per-try timeout, so it never retransmits to us. */
const MEMBER_TIMEOUT_MS = 800;

function memberClient(m: MemberConfig, logger: Logger): RtppClient {
  return new RtppClient({
    socket: `${m.protocol}:${m.address}`,
    timeoutMs: MEMBER_TIMEOUT_MS,
    ...(m.cmd_out_address === undefined ? {} : { localAddress: m.cmd_out_address }),
    logger,
  });
}

function resolveOwner(owner: NonNullable<DaemonOptions['socketOwner']>): {
  uid: number;
  gid: number;
} {
  const uid = Number(execFileSync('id', ['-u', owner.user], { encoding: 'utf8' }).trim());
  const gid =
    owner.group === undefined
      ? Number(execFileSync('id', ['-g', owner.user], { encoding: 'utf8' }).trim())
      : Number(
          execFileSync('getent', ['group', owner.group], { encoding: 'utf8' }).split(':')[2] ??
            Number.NaN,
        );
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(`-o: cannot resolve ${owner.user}:${owner.group ?? ''}`);
  }
  return { uid, gid };
}

export async function startDaemon(
  options: DaemonOptions,
  logger: Logger,
  config: RtpClusterConfig = readConfigFile(options.configFile),
): Promise<DaemonHandle> {
  const owner = options.socketOwner === undefined ? undefined : resolveOwner(options.socketOwner);
  const store = options.stateDb === '' ? undefined : new CallStore(options.stateDb);
  const servers = new Map<string, RtppServer>();
  const relays = new Map<string, DisconnectRelay>();
  /** Member hosts may deliver timeout notifications to the relay; nobody else may. */
  const memberHosts = (cluster: RtpCluster) =>
    cluster.members
      .filter((m) => m.config.protocol !== 'unix' && m.config.protocol !== 'cunix')
      .map((m) => splitHostPort(m.config.address)?.host ?? '');
  const controlSockets = new Map<string, string[]>();

  const openFrontEnd = async (cluster: RtpCluster) => {
    const spec = `${cluster.config.protocol}:${cluster.config.address}`;
    logger.info(
      { cluster: cluster.name, socket: spec },
      `initializing cluster ${cluster.name} at ${spec}`,
    );
    const server = new RtppServer({
      sockets: [spec],
      // each sender is held to its cap of calls, and its X deletes only its own calls
      handler: (cmd, ctx) => cluster.handle(cmd, commandSource(ctx)),
      // plain U/L/D forwarded as text, everything else parsed (see RtpCluster.answerText)
      textHandler: (text, ctx, respond) =>
        cluster.answerText(text, respond, commandSource(ctx)) || undefined,
      parseErrorCode: balancerParseErrorCode,
      allowedSources: options.allowedSources,
      maxConnectionsPerSource: options.maxConnectionsPerSource,
      idleTimeoutMs: options.controlIdleTimeoutMs,
      logger,
    });
    await server.start();
    if (
      reachableBeyondLoopback(spec) &&
      options.allowedSources.length === LOOPBACK_SOURCES.length
    ) {
      logger.warn(
        { cluster: cluster.name, socket: spec },
        'cluster socket reachable from other hosts, but only loopback may send commands: add --allow',
      );
    }
    servers.set(cluster.name, server);
    const bound = server.addresses().map((a) => a.spec);
    const dn = cluster.config.disconnect_notify;
    const inbound = dn === undefined ? undefined : splitHostPort(dn.inbound_address);
    if (dn !== undefined && inbound !== undefined) {
      const relay = new DisconnectRelay({
        host: inbound.host,
        port: inbound.port,
        destSocketPrefix: dn.dest_socket_prefix,
        allowed: memberHosts(cluster),
        logger,
      });
      await relay.start();
      relays.set(cluster.name, relay);
      logger.info(
        { cluster: cluster.name, inbound: dn.inbound_address },
        'disconnect-notify relay listening',
      );
    }
    controlSockets.set(cluster.name, bound);
    if (
      owner !== undefined &&
      (cluster.config.protocol === 'unix' || cluster.config.protocol === 'cunix')
    ) {
      chownSync(cluster.config.address, owner.uid, owner.gid);
    }
  };

  const mi = createMiCore({ logger, server: 'rtp-cluster (sipedge)' });
  const balancer = new RtpBalancer(config, {
    connect: (m) => memberClient(m, logger),
    logger,
    member: { heartbeatIntervalMs: options.heartbeatMs },
    maxSessionsPerSource: options.maxSessionsPerSource,
    disconnectRelay: true,
    onEvent: (e) => {
      logger.info(e, `${e.type.replace('_', ' ')}: ${e.member} in ${e.cluster}`);
      raiseRtpClusterEvent(mi.events, e);
      const cluster = balancer.cluster(e.cluster);
      if (cluster !== undefined) relays.get(e.cluster)?.allow(memberHosts(cluster));
    },
    callTableFor: (name) => {
      const clock = { now: () => Date.now() };
      const table = new CallTable(
        store === undefined ? { clock } : { clock, onChange: store.listener(name, clock.now) },
      );
      if (store !== undefined) table.restore(store.load(name));
      return table;
    },
    onClusterAdded: openFrontEnd,
    onClusterRemoved: async (cluster) => {
      await servers.get(cluster.name)?.stop();
      servers.delete(cluster.name);
      await relays.get(cluster.name)?.stop();
      relays.delete(cluster.name);
      controlSockets.delete(cluster.name);
      store?.forgetCluster(cluster.name);
    },
  });

  const reload = async () => {
    const next = readConfigFile(options.configFile);
    const r = await balancer.reload(next);
    logger.info(r, 'configuration reloaded');
    return { clusters: r.clusters, members: r.members };
  };

  mi.registry.register(miCommands(balancer, { reload }));
  registerRtpClusterStatistics(mi.stats, balancer);
  registerControlSocketStatistics(mi.stats, () => servers.values());
  let miServer: MiServer | undefined;
  let miUrl: string | undefined;
  if (options.mi !== undefined) {
    const at = options.mi.lastIndexOf(':');
    const host = options.mi.slice(0, at).replace(/^\[|\]$/g, '');
    miServer = new MiServer({
      registry: mi.registry,
      events: mi.events,
      stats: mi.stats,
      logger,
      host,
      port: Number(options.mi.slice(at + 1)),
      ...(options.miToken === undefined ? {} : { token: options.miToken }),
    });
    const addr = await miServer.start();
    miUrl = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}/mi`;
    logger.info({ url: miUrl }, 'MI listening');
  }

  logger.info({ socket: options.cliSocket }, 'initializing CLI');
  const admin = new AdminServer({ path: options.cliSocket, context: { balancer, reload } });
  await balancer.start();
  await admin.start();
  if (owner !== undefined) chownSync(admin.path, owner.uid, owner.gid);
  for (const c of balancer.clusters) {
    for (const m of c.members) {
      logger.info(
        { cluster: c.name, member: m.name },
        `adding RTPproxy member ${m.name} at ${m.config.address}`,
      );
    }
  }
  writeFileSync(options.pidFile, `${process.pid}\n`);
  logger.info({}, 'Initialization complete, have a good flight.');

  let stopped = false;
  return {
    balancer,
    ...(miUrl === undefined ? {} : { miUrl }),
    controlSockets,
    reload,
    async stop() {
      if (stopped) return;
      stopped = true;
      await admin.stop();
      await miServer?.stop();
      await Promise.all([...servers.values()].map((s) => s.stop()));
      await Promise.all([...relays.values()].map((r) => r.stop()));
      await balancer.stop();
      store?.close();
      try {
        if (
          existsSync(options.pidFile) &&
          readFileSync(options.pidFile, 'utf8').trim() === String(process.pid)
        ) {
          unlinkSync(options.pidFile);
        }
      } catch {
        // the pidfile is advisory
      }
    },
  };
}
