/**
 * Federation of sites (`federation` section): this node's part in the presence of the site's
 * AoRs in Redis Cluster. Every node follows its location table's changes; the node active for
 * the site's `vip` tag (`ha.sharing_tag`; every node without `ha`) writes them. The router asks
 * `routing` for the other sites of an AoR on a local miss.
 */
import type { Clusterer } from '@sipedge/clusterer';
import {
  Federation,
  federationMiCommands,
  RedisPresenceStore,
  siteExpiry,
} from '@sipedge/federation';
import type { MiCore } from '@sipedge/mi';
import { canonicalAor, type Location, registrarOptionsFromConfig } from '@sipedge/usrloc';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import type { FederationRouting } from '../federation-routing.js';
import type { Cleanups } from './cleanups.js';

export interface NodeFederation {
  readonly federation: Federation;
  readonly routing: FederationRouting;
  /** Sets the writer from the tag's state now (after the clusterer started). */
  settle(): void;
}

export function startFederation(
  config: Readonly<NodeConfig>,
  deps: {
    location: Location;
    clusterer: Clusterer;
    haKey: string | undefined;
    mi: MiCore;
    logger: Logger;
    cleanups: Cleanups;
  },
): NodeFederation | undefined {
  const c = config.federation;
  if (c === undefined) return undefined;
  const { location, clusterer, haKey, mi, logger, cleanups } = deps;
  const permanentMs = c.permanent_ttl * 1000;
  const store = new RedisPresenceStore({
    nodes: c.store.nodes,
    ...(c.store.tls === undefined ? {} : { tls: c.store.tls }),
    ...(c.store.username === undefined ? {} : { username: c.store.username }),
    ...(c.store.password === undefined ? {} : { password: c.store.password }),
    timeoutMs: Math.max(1000, c.lookup_timeout * 1000),
    logger,
  });
  const federation = new Federation({
    config: c,
    store,
    source: {
      *entries() {
        const now = Date.now();
        for (const [aor, contacts] of location.aorEntries()) {
          const expires = siteExpiry(contacts, now, permanentMs);
          if (expires !== undefined) yield [aor, expires] as const;
        }
      },
      expiresOf: (aor) => siteExpiry(location.contacts(aor), Date.now(), permanentMs),
    },
    stats: mi.stats,
    events: mi.events,
    logger,
  });
  const offChanges = location.onChange((changes) => {
    let last: string | undefined;
    for (const ch of changes) {
      // a batch holds the changes of one AoR together: one look per AoR
      if (ch.contact.aor === last) continue;
      last = ch.contact.aor;
      federation.publisher.changed(last);
    }
  });
  const offTag = clusterer.onShtagChange((e) => {
    if (`${e.name}/${e.clusterId}` === haKey) federation.publisher.setWriter(e.state === 'active');
  });
  mi.registry.register(...federationMiCommands(federation));
  federation.start();
  cleanups.push(async () => {
    offChanges();
    offTag();
    await federation.stop();
  });
  const aorOptions =
    registrarOptionsFromConfig({ ...config.usrloc, node_id: config.node.id }).aor ?? {};
  logger.info(
    { site: c.site, sites: c.sites.length, store: c.store.nodes },
    'federation: presence in Redis Cluster',
  );
  return {
    federation,
    routing: {
      site: c.site,
      aorOf: (uri) => canonicalAor(uri, aorOptions),
      remoteSites: (aor) => federation.remoteSites(aor),
      notFound: (aor, site) => federation.lookup.notFound(aor, site),
    },
    settle() {
      federation.publisher.setWriter(
        haKey === undefined || clusterer.shtagState(haKey) === 'active',
      );
    },
  };
}
