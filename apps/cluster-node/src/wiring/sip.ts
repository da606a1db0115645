/**
 * The SIP side of a node: the edge's listeners, the stateful proxy with this node's routing
 * policy (router.ts), media anchored on the balancer's first cluster, and the NAT pings of the
 * contacts this node owns.
 */
import type { Clusterer } from '@sipedge/clusterer';
import type { MiCore } from '@sipedge/mi';
import type { RtpBalancer } from '@sipedge/rtp-cluster';
import { type Location, NatPinger, type Registrar, USRLOC_REPL_CAP } from '@sipedge/usrloc';
import type { Logger } from 'pino';
import { BadInput } from '../bad-input.js';
import { type NodeConfig, parseBinListenUrl } from '../config.js';
import type { FederationRouting } from '../federation-routing.js';
import { MediaAnchor } from '../media.js';
import { PikeGuard } from '../pike.js';
import { Router } from '../router.js';
import { SipEdge, type SipListenerInfo } from '../sip-edge.js';
import type { Cleanups } from './cleanups.js';
import type { NodeTls } from './tls.js';

export interface NodeSip {
  readonly sip: SipEdge;
  readonly router: Router;
  readonly sipListeners: readonly SipListenerInfo[];
}

export async function startSip(
  config: Readonly<NodeConfig>,
  deps: {
    location: Location;
    registrar: Registrar;
    clusterer: Clusterer;
    balancer: RtpBalancer | undefined;
    /** The HA sharing tag (`vip/1`): stored on contacts registered via the service address. */
    haKey: string | undefined;
    mi: MiCore;
    logger: Logger;
    cleanups: Cleanups;
    tls: NodeTls;
    federation?: FederationRouting | undefined;
  },
): Promise<NodeSip> {
  const { mi, logger, cleanups } = deps;
  const badInput = new BadInput({ stats: mi.stats, logger });
  const pike = config.sip.pike.enabled ? startPike(config, mi, logger) : undefined;
  const sip = new SipEdge(config.sip, {
    logger,
    stats: mi.stats,
    tls: deps.tls.material('sip'),
    badInput,
    ...(pike === undefined ? {} : { pike }),
  });
  deps.tls.onReload('sip', (m) => sip.setTls(m));
  cleanups.push(() => sip.stop());
  const cluster0 = deps.balancer?.clusters[0];
  const router = new Router({
    config: config.sip,
    edge: sip,
    registrar: deps.registrar,
    ...(cluster0 !== undefined && config.rtp?.anchor_media === true
      ? { media: new MediaAnchor(cluster0, logger) }
      : {}),
    ...(deps.haKey === undefined ? {} : { serviceTag: deps.haKey }),
    mayAcknowledge: () => deps.clusterer.mayAcknowledge(USRLOC_REPL_CAP),
    stats: mi.stats,
    logger,
    badInput,
    ...(deps.federation === undefined ? {} : { federation: deps.federation }),
  });
  sip.setHandler(router.proxy);
  const sipListeners = await sip.start();
  if (config.sip.nat_ping.enabled) {
    startNatPings(config.sip.nat_ping, sipListeners, router, deps);
  }
  return { sip, router, sipListeners };
}

/**
 * Flood protection (sip.pike) with its MI commands. Cluster peers are exempt: their SIP comes
 * from the hosts of their BIN urls (a node's SIP and BIN listeners share its address).
 */
function startPike(config: Readonly<NodeConfig>, mi: MiCore, logger: Logger): PikeGuard {
  const peers = config.clusterer.neighbours.map((n) => parseBinListenUrl(n.url, false).host);
  const pike = new PikeGuard(config.sip.pike, {
    peers,
    stats: mi.stats,
    events: mi.events,
    logger,
  });
  for (const c of pike.miCommands()) mi.registry.register(c);
  return pike;
}

/**
 * A contact is pinged by the node that owns its NAT binding: the active node of its sharing
 * tag (registered on the service address), else the node whose socket took it.
 */
function startNatPings(
  np: NodeConfig['sip']['nat_ping'],
  sipListeners: readonly SipListenerInfo[],
  router: Router,
  deps: {
    location: Location;
    clusterer: Clusterer;
    mi: MiCore;
    logger: Logger;
    cleanups: Cleanups;
  },
): void {
  const { clusterer } = deps;
  const localSockets = new Set(
    sipListeners.map((l) => `${l.proto === 'ws' ? 'ws' : l.proto}:${l.address}:${l.port}`),
  );
  const pinger = new NatPinger({
    location: deps.location,
    send: router.sendPing,
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
    stats: deps.mi.stats,
    logger: deps.logger,
  });
  pinger.start();
  deps.cleanups.push(() => pinger.stop());
}
