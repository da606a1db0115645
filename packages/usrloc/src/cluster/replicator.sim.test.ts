import type { Clusterer } from '@sipedge/clusterer';
import { SimCluster, Topologies, withSeed } from '@sipedge/clusterer/sim';
import type { Clock } from '@sipedge/core';
import { callCommand, EventBus, MiRegistry, MiRpcError } from '@sipedge/mi';
import { VIRTUAL_TIME_TIMEOUT_MS } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { plainContact } from '../../test/contacts.js';
import { register } from '../../test/register.js';
import { Location } from '../location/location.js';
import { miCommands } from '../mi.js';
import type { ContactRecord } from '../model.js';
import { Registrar } from '../registrar/registrar.js';
import { ReplWriter } from './bytes.js';
import { encodeChange, PacketType, USRLOC_REPL_VERSION } from './codec.js';
import { contactsDigest } from './digest.js';
import { USRLOC_REPL_CAP, UsrlocReplicator } from './replicator.js';

const timers = { pingInterval: 1, pingTimeout: 300, nodeTimeout: 5 };
const syncOpts = {
  seedFallbackInterval: 2,
  syncTimeout: 3,
  syncPacketSize: 4096,
  antiEntropyInterval: 2,
};

interface Site {
  location: Location;
  registrar: Registrar;
  repl: UsrlocReplicator;
}

/** VirtualClock's default start: what `now()` reads before the simulator is assigned. */
const SIM_START = 1_700_000_000_000;

function cluster(n: number, seed: number, edges = Topologies.fullMesh(n)) {
  const sites = new Map<number, Site>();
  // SimCluster calls setup() from its constructor, before `sim` is assigned: locations made
  // then start their expiry timers right after it
  let ref: SimCluster | undefined;
  const early: Location[] = [];
  const clock: Clock = {
    now: () => ref?.clock.now() ?? SIM_START,
    setTimeout: (fn, ms) => (ref as SimCluster).clock.setTimeout(fn, ms),
    clearTimeout: (h) => ref?.clock.clearTimeout(h as never),
  };
  const sim: SimCluster = new SimCluster({
    nodes: n,
    edges,
    seed,
    delay: 2,
    jitter: 2,
    node: { ...timers, sync: syncOpts },
    setup: (node: Clusterer, id: number) => {
      // memory-only: a restarted node comes back empty and must sync from the cluster
      const location = new Location({ nodeId: id, clock, timerIntervalMs: 1000 });
      if (ref === undefined) early.push(location);
      else location.start();
      sites.get(id)?.location.stop();
      sites.set(id, {
        location,
        registrar: new Registrar(location, { maxExpires: 86_400 }),
        repl: new UsrlocReplicator({ location, clusterer: node }),
      });
    },
  });
  ref = sim;
  for (const l of early) l.start();
  return { sim, sites };
}

function site(sites: Map<number, Site>, id: number): Site {
  const s = sites.get(id);
  if (s === undefined) throw new Error(`no site ${id}`);
  return s;
}

/** Every running node's bindings, as comparable text. */
function snapshot(sim: SimCluster, sites: Map<number, Site>, id: number): string {
  void sim;
  const rows: string[] = [];
  for (const c of site(sites, id).location.allContacts())
    rows.push(
      `${c.aor} ${c.id} ${c.uri} ${c.callId} ${c.cseq} ${c.expires} ${c.lastModified} ${c.nodeId}`,
    );
  return rows.sort().join('\n');
}

function converged(sim: SimCluster, sites: Map<number, Site>): boolean {
  const ids = [...sim.nodes.keys()];
  for (const id of ids) if (!sim.node(id).isSynced(USRLOC_REPL_CAP)) return false;
  const d = ids.map((id) => site(sites, id).repl.digest());
  return d.every((x) => x === d[0]);
}

/** Random REGISTERs (new bindings, refreshes, un-REGISTERs) on synced nodes for `ms`. */
function registerFor(sim: SimCluster, sites: Map<number, Site>, ms: number, tag: string): number {
  const end = sim.clock.now() + ms;
  let ok = 0;
  for (let i = 0; i < 50_000 && sim.clock.now() < end; i++) {
    const ids = [...sim.nodes.keys()].filter((id) => sim.node(id).isSynced(USRLOC_REPL_CAP));
    if (ids.length > 0) {
      const id = ids[sim.random.int(0, ids.length - 1)] as number;
      const u = sim.random.int(0, 40);
      const dev = sim.random.int(0, 2);
      const expires = sim.random.int(0, 9) === 0 ? 0 : 3600;
      const res = site(sites, id).registrar.save(
        register(
          `u${u}`,
          `sip:u${u}@192.0.2.${dev + 1}:5060`,
          `${tag}-${u}-${dev}`,
          i + 1,
          expires,
        ),
        { received: `sip:198.51.100.${id}:5060` },
      );
      if (res.status === 200) ok++;
    }
    sim.clock.advance(sim.random.int(1, 20));
  }
  return ok;
}

describe('usrloc replication in the clusterer simulator', {
  timeout: VIRTUAL_TIME_TIMEOUT_MS,
}, () => {
  it('replicates a REGISTER, its refresh and its un-REGISTER to every node', () => {
    withSeed(7, (seed) => {
      const { sim, sites } = cluster(3, seed);
      expect(sim.clock.runUntil(() => converged(sim, sites), 20_000)).toBeGreaterThanOrEqual(0);
      const a = site(sites, 1);
      expect(a.registrar.save(register('alice', 'sip:alice@192.0.2.1', 'c1', 1, 600)).status).toBe(
        200,
      );
      sim.clock.advance(100);
      for (const id of [2, 3]) {
        const l = site(sites, id).location.contacts('alice@example.com');
        expect(l.map((c) => [c.uri, c.cseq])).toEqual([['sip:alice@192.0.2.1', 1]]);
      }
      // a refresh from node 2, then an un-REGISTER on node 3
      site(sites, 2).registrar.save(register('alice', 'sip:alice@192.0.2.1', 'c1', 2, 900));
      sim.clock.advance(100);
      expect(site(sites, 3).location.contacts('alice@example.com')[0]?.cseq).toBe(2);
      expect(site(sites, 1).location.contacts('alice@example.com')[0]?.cseq).toBe(2);
      site(sites, 3).registrar.save(register('alice', 'sip:alice@192.0.2.1', 'c1', 3, 0));
      sim.clock.advance(100);
      for (const id of [1, 2, 3]) {
        expect(site(sites, id).location.contacts('alice@example.com')).toEqual([]);
        expect(site(sites, id).location.tombstoneCount).toBe(1);
      }
      // a late duplicate of the insert cannot bring it back
      const w = new ReplWriter();
      const stale = site(sites, 2).repl.counters.ignored;
      const first = plainContact('1-x-1', {
        aor: 'bob@example.com',
        uri: 'sip:bob@192.0.2.9',
        expires: sim.clock.now() + 60_000,
        callId: 'b1',
        cseq: 1,
        lastModified: sim.clock.now(),
        nodeId: 1,
      });
      const body = encodeChange(w, {
        domain: 'location',
        contact: first,
        at: first.lastModified,
        nodeId: 1,
      });
      const del = encodeChange(w, {
        domain: 'location',
        contact: first,
        at: first.lastModified + 1,
        nodeId: 1,
      });
      const send = (type: number, b: Buffer) =>
        sim.node(1).sendTo(1, 2, {
          capability: USRLOC_REPL_CAP,
          version: USRLOC_REPL_VERSION,
          type,
          body: b,
        });
      send(PacketType.DELETE, del);
      send(PacketType.INSERT, body);
      send(PacketType.INSERT, body);
      sim.clock.advance(100);
      expect(site(sites, 2).location.contacts('bob@example.com')).toEqual([]);
      // the delete of an unknown id only leaves a tombstone; both inserts are then too old
      expect(site(sites, 2).repl.counters.ignored).toBe(stale + 3);
      expect(site(sites, 2).location.tombstoneCount).toBe(2);
    });
  });

  it('replicates a max-contacts eviction as a delete', () => {
    withSeed(10, (seed) => {
      const { sim, sites } = cluster(2, seed);
      expect(sim.clock.runUntil(() => converged(sim, sites), 20_000)).toBeGreaterThanOrEqual(0);
      const reg = new Registrar(site(sites, 1).location, {
        maxContacts: 1,
        maxContactsMode: 'replace-oldest',
      });
      expect(reg.save(register('fay', 'sip:fay@192.0.2.1', 'f1', 1, 600)).status).toBe(200);
      sim.clock.advance(100);
      expect(reg.save(register('fay', 'sip:fay@192.0.2.2', 'f2', 1, 600)).status).toBe(200);
      sim.clock.advance(100);
      const uris = (id: number) =>
        site(sites, id)
          .location.contacts('fay@example.com')
          .map((c) => c.uri);
      expect(uris(1)).toEqual(['sip:fay@192.0.2.2']);
      expect(uris(2)).toEqual(['sip:fay@192.0.2.2']);
      expect(site(sites, 2).location.tombstoneCount).toBe(1);
    });
  });

  it('counts forged, malformed and foreign-version packets as drops and changes nothing', () => {
    withSeed(8, (seed) => {
      const { sim, sites } = cluster(2, seed);
      expect(sim.clock.runUntil(() => converged(sim, sites), 20_000)).toBeGreaterThanOrEqual(0);
      const w = new ReplWriter();
      const c = plainContact('3-x-1', {
        aor: 'eve@example.com',
        uri: 'sip:eve@192.0.2.66',
        callId: 'e',
        cseq: 1,
        lastModified: sim.clock.now(),
        nodeId: 3,
      });
      const send = (version: number, type: number, b: Buffer) =>
        sim.node(1).sendTo(1, 2, { capability: USRLOC_REPL_CAP, version, type, body: b });
      // claims to come from node 3 but node 1 sent it
      send(
        USRLOC_REPL_VERSION,
        PacketType.INSERT,
        encodeChange(w, { domain: 'location', contact: c, at: 1, nodeId: 3 }),
      );
      send(USRLOC_REPL_VERSION, PacketType.INSERT, Buffer.from([1, 2, 3]));
      // an older usrloc layout (version 4) is not read
      send(4, 1, Buffer.from('0800 6c6f636174696f6e 0500 616c696365', 'hex'));
      send(
        USRLOC_REPL_VERSION,
        PacketType.INSERT,
        encodeChange(w, { domain: 'other', contact: { ...c, nodeId: 1 }, at: 1, nodeId: 1 }),
      );
      sim.clock.advance(100);
      const k = site(sites, 2).repl.counters;
      expect([k.drop_forged, k.drop_malformed, k.drop_version, k.drop_domain]).toEqual([
        1, 1, 1, 1,
      ]);
      expect(site(sites, 2).location.contactCount).toBe(0);
    });
  });

  it('three nodes registering concurrently through partitions and restarts end identical; a new node syncs', () => {
    for (const s of [41, 42, 43]) {
      withSeed(s, (seed) => {
        const { sim, sites } = cluster(4, seed);
        sim.crash(4); // the late joiner
        expect(sim.clock.runUntil(() => converged(sim, sites), 20_000)).toBeGreaterThanOrEqual(0);
        let ok = registerFor(sim, sites, 2000, 'a');
        // partition node 3 away from 1 and 2: both sides keep taking REGISTERs
        sim.cutEdge(1, 3);
        sim.cutEdge(2, 3);
        ok += registerFor(sim, sites, 8000, 'b');
        sim.healEdge(1, 3);
        sim.healEdge(2, 3);
        ok += registerFor(sim, sites, 2000, 'c');
        // node 2 restarts (memory-only: it comes back empty) while the others keep going
        sim.restart(2);
        ok += registerFor(sim, sites, 3000, 'd');
        expect(ok).toBeGreaterThan(200);
        expect(sim.clock.runUntil(() => converged(sim, sites), 60_000)).toBeGreaterThanOrEqual(0);
        const ref = snapshot(sim, sites, 1);
        expect(site(sites, 1).location.contactCount).toBeGreaterThan(20);
        for (const id of [2, 3]) expect(snapshot(sim, sites, id)).toBe(ref);
        // a node that was never up joins and gets every binding
        sim.restart(4, 0);
        expect(
          sim.clock.runUntil(() => sim.nodes.has(4) && converged(sim, sites), 30_000),
        ).toBeGreaterThanOrEqual(0);
        expect(snapshot(sim, sites, 4)).toBe(snapshot(sim, sites, 1));
        // the digest kept change by change is the one of what each node holds
        for (const id of [1, 2, 3, 4]) {
          const { repl, location } = site(sites, id);
          expect(repl.digest()).toBe(contactsDigest(location.allContacts()));
        }
      });
    }
  });

  it('the incremental digest equals one computed from scratch after every kind of change', () => {
    const { sim, sites } = cluster(1, 7);
    expect(sim.clock.runUntil(() => converged(sim, sites), 20_000)).toBeGreaterThanOrEqual(0);
    const { location, registrar, repl } = site(sites, 1);
    const check = (what: string): void => {
      expect(`${what}: ${repl.digest()}`).toBe(
        `${what}: ${contactsDigest(location.allContacts())}`,
      );
    };
    for (let u = 0; u < 5; u++)
      for (let dev = 0; dev < 2; dev++)
        registrar.save(register(`u${u}`, `sip:u${u}@192.0.2.${dev + 1}`, `c${u}${dev}`, 1, 60));
    check('inserts');
    registrar.save(register('u0', 'sip:u0@192.0.2.1', 'c00', 2, 3600));
    check('refresh');
    // the same Call-ID with a new contact replaces the binding (an update of its id)
    registrar.save(register('u1', 'sip:u1@192.0.2.9', 'c10', 2, 3600));
    check('update');
    registrar.save(register('u2', 'sip:u2@192.0.2.1', 'c20', 2, 0));
    check('un-REGISTER');
    const [first] = location.contacts('u3@example.com');
    expect(location.removeContact('u3@example.com', first?.id ?? '', 'mi')).toBe(true);
    check('removeContact');
    expect(location.removeAor('u4@example.com')).toBe(true);
    check('removeAor');
    const remote = { ...(location.contacts('u0@example.com')[0] as ContactRecord) };
    location.applyRemote({
      type: 'put',
      contact: { ...remote, cseq: 9, lastModified: remote.lastModified + 1, nodeId: 2 },
      at: remote.lastModified + 1,
      nodeId: 2,
    });
    check('remote update');
    location.applyRemoteMany([
      { type: 'put', contact: { ...remote, id: 'x-1', aor: 'z@example.com' }, at: 1, nodeId: 2 },
      { type: 'delete', contact: location.contacts('u1@example.com')[0]!, at: 2, nodeId: 2 },
    ]);
    check('remote batch');
    const before = location.contactCount;
    sim.clock.advance(120_000); // the location's timer removes the 60 s bindings
    expect(location.contactCount).toBeLessThan(before);
    expect(location.contactCount).toBeGreaterThan(0);
    check('expiry');
  });

  it('a node that missed packets (dropped in flight) catches up by anti-entropy alone', () => {
    withSeed(9, (seed) => {
      const { sim, sites } = cluster(3, seed);
      expect(sim.clock.runUntil(() => converged(sim, sites), 20_000)).toBeGreaterThanOrEqual(0);
      // node 3 misses what node 1 sends while the link is cut, with no node-down (short cut)
      sim.cutEdge(1, 3);
      sim.cutEdge(2, 3);
      site(sites, 1).registrar.save(register('carol', 'sip:carol@192.0.2.3', 'k1', 1, 3600));
      sim.clock.advance(50);
      sim.healEdge(1, 3);
      sim.healEdge(2, 3);
      expect(site(sites, 3).location.contacts('carol@example.com')).toEqual([]);
      expect(
        sim.clock.runUntil(
          () => site(sites, 3).location.contacts('carol@example.com').length === 1,
          20_000,
        ),
      ).toBeGreaterThanOrEqual(0);
      expect(snapshot(sim, sites, 3)).toBe(snapshot(sim, sites, 1));
      expect(site(sites, 3).repl.counters.sync_items_received).toBeGreaterThan(0);
    });
  });

  it('ul_cluster_sync asks for a sync; without a replicator it is a 400', async () => {
    const { sim, sites } = cluster(2, 5);
    expect(sim.clock.runUntil(() => converged(sim, sites), 20_000)).toBeGreaterThanOrEqual(0);
    const before = sim.node(2).capabilityStatus(USRLOC_REPL_CAP);
    const mi = new MiRegistry();
    mi.register(...miCommands(site(sites, 2).location, { replicator: site(sites, 2).repl }));
    const served = site(sites, 1).repl.counters.sync_items_sent;
    site(sites, 1).registrar.save(register('dan', 'sip:dan@192.0.2.4', 'd1', 1, 3600));
    expect(await callCommand(mi, 'ul_cluster_sync')).toBe('OK');
    sim.clock.advance(500);
    expect(site(sites, 1).repl.counters.sync_items_sent).toBeGreaterThan(served);
    expect(before?.status).toBe(1);
    const bare = new MiRegistry();
    bare.register(...miCommands(new Location({ events: new EventBus() })));
    const err = await callCommand(bare, 'ul_cluster_sync').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MiRpcError);
    expect([(err as MiRpcError).rpcCode, (err as MiRpcError).message]).toEqual([
      400,
      'Clustering not enabled',
    ]);
  });
});
