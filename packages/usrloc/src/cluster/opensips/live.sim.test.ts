import type { Clusterer } from '@sipedge/clusterer';
import { SimCluster, Topologies, withSeed } from '@sipedge/clusterer/sim';
import { type Clock, noopLogger } from '@sipedge/core';
import { VIRTUAL_TIME_TIMEOUT_MS } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { OpenSipsUsrloc } from '../../../test/opensips-usrloc.js';
import { register } from '../../../test/register.js';
import { Location } from '../../location/location.js';
import { Registrar } from '../../registrar/registrar.js';
import { USRLOC_REPL_CAP, UsrlocReplicator } from '../replicator.js';
import { encodeUlPacket } from './codec.js';
import { ContactMatchMode, type UlContact } from './packets.js';

const SIM_START = 1_700_000_000_000;

interface Site {
  location: Location;
  registrar: Registrar;
  repl: UsrlocReplicator;
  /** What the replicator logged as warnings. */
  warnings: { obj: object; msg: string | undefined }[];
}

/** Nodes 1 and 2 run sipedge's usrloc; node 3 is an OpenSIPS usrloc (no sipedge mark). */
function mixedCluster(seed: number) {
  const sites = new Map<number, Site>();
  const openSips: { node?: OpenSipsUsrloc } = {};
  let ref: SimCluster | undefined;
  const early: Location[] = [];
  const clock: Clock = {
    now: () => ref?.clock.now() ?? SIM_START,
    setTimeout: (fn, ms) => (ref as SimCluster).clock.setTimeout(fn, ms),
    clearTimeout: (h) => ref?.clock.clearTimeout(h as never),
  };
  const sim: SimCluster = new SimCluster({
    nodes: 3,
    edges: Topologies.fullMesh(3),
    seed,
    delay: 2,
    jitter: 2,
    node: {
      pingInterval: 1,
      pingTimeout: 300,
      nodeTimeout: 5,
      sync: { seedFallbackInterval: 2, syncTimeout: 3, syncPacketSize: 4096 },
    },
    nodeOptions: (id) => (id === 3 ? { sipedgeMark: false } : {}),
    setup: (node: Clusterer, id: number) => {
      if (id === 3) {
        openSips.node = new OpenSipsUsrloc(node);
        return;
      }
      const location = new Location({ nodeId: id, clock, timerIntervalMs: 1000 });
      if (ref === undefined) early.push(location);
      else location.start();
      sites.get(id)?.location.stop();
      const warnings: Site['warnings'] = [];
      const logger = {
        ...noopLogger,
        warn: (obj: object, msg?: string) => warnings.push({ obj, msg }),
      };
      sites.set(id, {
        location,
        registrar: new Registrar(location, { maxExpires: 86_400 }),
        repl: new UsrlocReplicator({ location, clusterer: node, logger }),
        warnings,
      });
    },
  });
  ref = sim;
  for (const l of early) l.start();
  const site = (id: number): Site => sites.get(id) as Site;
  const os = (): OpenSipsUsrloc => openSips.node as OpenSipsUsrloc;
  const synced = (): boolean =>
    [1, 2, 3].every((id) => sim.nodes.get(id)?.isSynced(USRLOC_REPL_CAP) === true);
  return { sim, site, os, synced };
}

/** A binding as an OpenSIPS node writes it, with fields sipedge has no use for. */
function openSipsBinding(now: number, cseq: number): UlContact {
  return {
    domain: 'location',
    aor: 'bob@example.com',
    contact: 'sip:bob@192.0.2.7:5060',
    contactId: 0x2a1_0000_4003n,
    callId: 'cid-bob',
    userAgent: 'OpenSIPS-phone',
    path: '<sip:edge.example.com;lr>',
    attr: 'vip-customer',
    received: 'sip:198.51.100.7:40000',
    instance: '<urn:uuid:00000000-0000-1000-8000-000000000007>',
    expires: Math.floor(now / 1000) + 600 * cseq,
    q: 500,
    socket: 'udp:127.0.0.3:5060',
    cseq,
    flags: 0,
    cflags: 'NAT SIPPING',
    methods: 0x1f,
    lastModified: Math.floor(now / 1000),
    kvStore: '{"tenant":"t1"}',
    match: { mode: ContactMatchMode.CONTACT_ONLY, params: [] },
  };
}

describe('live usrloc replication with an OpenSIPS node (layout 5)', {
  timeout: VIRTUAL_TIME_TIMEOUT_MS,
}, () => {
  it('carries inserts, updates and deletes both ways in a mixed cluster', () => {
    withSeed(17, (seed) => {
      const { sim, site, os, synced } = mixedCluster(seed);
      expect(sim.clock.runUntil(synced, 20_000)).toBeGreaterThanOrEqual(0);

      // sipedge -> OpenSIPS: insert, refresh from the other sipedge node, un-REGISTER
      const alice = 'sip:alice@192.0.2.1:5060';
      expect(site(1).registrar.save(register('alice', alice, 'c1', 1, 600)).status).toBe(200);
      sim.clock.advance(100);
      expect(os().get('alice@example.com', alice)).toMatchObject({ callId: 'c1', cseq: 1 });
      site(2).registrar.save(register('alice', alice, 'c1', 2, 900));
      sim.clock.advance(100);
      expect(os().get('alice@example.com', alice)?.cseq).toBe(2);
      site(1).registrar.save(register('alice', alice, 'c1', 3, 0));
      sim.clock.advance(100);
      expect(os().get('alice@example.com', alice)).toBeUndefined();

      // OpenSIPS -> sipedge: insert, update, delete; both sipedge nodes name it alike
      os().save(openSipsBinding(sim.clock.now(), 1));
      sim.clock.advance(100);
      const bob = [1, 2].map((id) => site(id).location.contacts('bob@example.com'));
      expect(bob.map((l) => l.map((c) => [c.uri, c.cseq, c.nodeId]))).toEqual([
        [['sip:bob@192.0.2.7:5060', 1, 3]],
        [['sip:bob@192.0.2.7:5060', 1, 3]],
      ]);
      expect(bob[0]?.[0]?.id).toBe(bob[1]?.[0]?.id);
      os().save(openSipsBinding(sim.clock.now(), 2));
      sim.clock.advance(100);
      for (const id of [1, 2])
        expect(site(id).location.contacts('bob@example.com')[0]?.cseq).toBe(2);
      // a refresh on sipedge keeps what only OpenSIPS uses
      site(1).registrar.save(register('bob', 'sip:bob@192.0.2.7:5060', 'cid-bob', 3, 600));
      sim.clock.advance(100);
      expect(os().get('bob@example.com', 'sip:bob@192.0.2.7:5060')).toMatchObject({
        cseq: 3,
        attr: 'vip-customer',
        cflags: 'NAT SIPPING',
        kvStore: '{"tenant":"t1"}',
      });
      os().remove('bob@example.com', 'sip:bob@192.0.2.7:5060');
      sim.clock.advance(100);
      for (const id of [1, 2]) expect(site(id).location.contacts('bob@example.com')).toEqual([]);

      // nothing was sent to the OpenSIPS node in a layout it refuses
      expect(os().refused).toBe(0);
      for (const id of [1, 2]) expect(site(id).repl.counters.drop_version).toBe(0);
    });
  });

  it('refuses a layout it cannot read with one log line naming both versions, and counts it', () => {
    withSeed(19, (seed) => {
      const { sim, site, synced } = mixedCluster(seed);
      expect(sim.clock.runUntil(synced, 20_000)).toBeGreaterThanOrEqual(0);
      // a usrloc layout older than 5
      const body = Buffer.from('0800 6c6f636174696f6e 0300 626f62', 'hex');
      for (let i = 0; i < 2; i++)
        sim.node(3).sendAll(1, { capability: USRLOC_REPL_CAP, version: 4, type: 2, body });
      sim.clock.advance(100);
      expect(site(1).repl.counters.drop_version).toBe(2);
      expect(site(1).warnings).toEqual([
        {
          obj: {
            capability: USRLOC_REPL_CAP,
            node: 3,
            type: 2,
            version: 4,
            reads: [100, 5],
            suppressed: 0,
          },
          msg: 'usrloc replication packet of a version this node cannot read dropped',
        },
      ]);
    });
  });

  it('gives a binding an OpenSIPS node wrote back to OpenSIPS byte for byte', () => {
    withSeed(18, (seed) => {
      const { sim, site, os, synced } = mixedCluster(seed);
      expect(sim.clock.runUntil(synced, 20_000)).toBeGreaterThanOrEqual(0);
      const written = openSipsBinding(sim.clock.now(), 1);
      os().save(written);
      sim.clock.advance(100);
      // it crosses sipedge: node 2 restarts empty and syncs from node 1 (the OpenSIPS node is
      // down), then the OpenSIPS node comes back empty with node 2 as its only donor
      sim.crash(3);
      const node2 = site(2);
      sim.restart(2, 1000);
      expect(
        sim.clock.runUntil(
          () => site(2) !== node2 && sim.nodes.get(2)?.isSynced(USRLOC_REPL_CAP) === true,
          20_000,
        ),
      ).toBeGreaterThan(0);
      expect(site(2).location.contacts(written.aor)).toHaveLength(1);
      sim.crash(1);
      const before = os();
      sim.restart(3, 1000);
      expect(
        sim.clock.runUntil(
          () => os() !== before && sim.nodes.get(3)?.isSynced(USRLOC_REPL_CAP) === true,
          20_000,
        ),
      ).toBeGreaterThan(0);
      const back = os().get(written.aor, written.contact);
      if (back === undefined) throw new Error('the binding did not come back');
      // the match rule belongs to a packet, not to the binding
      const asInsert = (contact: UlContact): string =>
        encodeUlPacket({
          kind: 'contact_insert',
          contact: { ...contact, match: written.match },
        }).toString('hex');
      expect(asInsert(back)).toBe(asInsert(written));
    });
  });
});
