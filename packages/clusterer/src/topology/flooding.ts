import { UPDATE_MAX_PATH_LEN } from '../bin/constants.js';
import {
  type CapabilityEntry,
  encodePacket,
  type InternalPacket,
  type NodeDescription,
  type TopologyEntry,
} from '../bin/packet.js';
import { type ClusterState, MAX_NODES_PER_CLUSTER } from '../nodes/clusters.js';
import { LinkState, type RemoteNode } from '../nodes/remote-node.js';
import { NO_STAMP, newerStamp, type Stamp } from './stamp.js';

/** What flooding needs: sends on links, link changes, discovery, and my capability states. */
export interface FloodingHost {
  readonly myNodeId: number;
  readonly dbMode: 0 | 1;
  now(): number;
  count(name: string, n?: number): void;
  /** Send on the link to a neighbour (a failure is a link event). */
  send(cl: ClusterState, node: RemoteNode, packet: Buffer, internal: boolean): boolean;
  setLink(cl: ClusterState, node: RemoteNode, state: LinkState): void;
  markDirty(cl: ClusterState): void;
  /** db_mode=0: add a node described in a FULL_TOP_UPDATE entry (throws on a bad one). */
  discover(cl: ClusterState, id: number, description: NodeDescription): RemoteNode;
  /** My entry of a CAP_UPDATE: every local capability and whether it is synced. */
  myCaps(cl: ClusterState): CapabilityEntry;
  /** A CAP_UPDATE taught us new capability states of the cluster's nodes. */
  capsLearnt(cl: ClusterState): void;
}

type LsUpdate = Extract<InternalPacket, { kind: 'ls_update' }>;
type FullTopUpdate = Extract<InternalPacket, { kind: 'full_top_update' }>;
type CapUpdate = Extract<InternalPacket, { kind: 'cap_update' }>;

/**
 * Link-state topology: LS_UPDATE, FULL_TOP_UPDATE and CAP_UPDATE, sent for my own
 * links and capabilities and flooded to UP neighbours not on the path (path ≤ 25), as OpenSIPS
 * does. What is accepted is sipedge's: staleness by (timestamp, seq), last writer wins per
 * link, a node's own FULL_TOP entry authoritative, relayed entries only filling gaps.
 */
export class Flooding {
  readonly #host: FloodingHost;

  constructor(host: FloodingHost) {
    this.#host = host;
  }

  #ts(): number {
    return Math.floor(this.#host.now() / 1000) | 0;
  }

  #drop(reason: string): undefined {
    this.#host.count(`drop_${reason}`);
  }

  #accept(stored: number, storedTs: number, seq: number, ts: number): boolean {
    return newerStamp(ts, seq, stored < 0 ? NO_STAMP : { ts: storedTs, seq: stored });
  }

  /** Timestamps more than a day ahead of our clock are nonsense and would block updates. */
  #absurdTs(ts: number): boolean {
    return ts > this.#ts() + 86_400;
  }

  /** My link to `node` came UP: flood it, and give the neighbour our topology and caps. */
  linkUp(cl: ClusterState, node: RemoteNode): void {
    this.#floodLs(cl, node.id, true);
    this.#sendFullTop(cl, node);
    this.#sendCapUpdate(cl, node, true);
  }

  /** My link to `node` left UP: flood it. */
  linkDown(cl: ClusterState, node: RemoteNode): void {
    this.#floodLs(cl, node.id, false);
  }

  /** The peer restarted behind a link we hold UP: give it our topology and caps again. */
  resendTopology(cl: ClusterState, node: RemoteNode): void {
    this.#sendFullTop(cl, node);
    this.#sendCapUpdate(cl, node, false);
  }

  onLsUpdate(cl: ClusterState, p: LsUpdate): undefined {
    const me = this.#host.myNodeId;
    const origin = cl.nodes.get(p.src);
    if (origin === undefined) return this.#drop('unknown_node');
    if (p.neighbour === p.src) return this.#drop('self_loop');
    if (p.seq < 0) return this.#drop('bad_seq');
    if (p.neighbour !== me && !cl.nodes.has(p.neighbour)) return this.#drop('unknown_neighbour');
    // Each LS_UPDATE is the state of one link: newest per link wins, so updates that
    // overtake each other on different flood paths are all applied.
    if (this.#absurdTs(p.timestamp)) return this.#drop('absurd_timestamp');
    if (!newerStamp(p.timestamp, p.seq, origin.linkSeq.get(p.neighbour) ?? NO_STAMP))
      return this.#drop('stale_update');
    origin.linkSeq.set(p.neighbour, { ts: p.timestamp, seq: p.seq });
    origin.relayedSeq.delete(p.neighbour);
    if (this.#accept(origin.lsSeq, origin.lsTs, p.seq, p.timestamp)) {
      origin.lsSeq = p.seq;
      origin.lsTs = p.timestamp;
    }
    if (p.neighbour === me) {
      const mine = origin.link;
      if ((p.up && mine === LinkState.DOWN) || (!p.up && mine === LinkState.UP)) {
        this.#host.setLink(cl, origin, LinkState.RESTART_PINGING);
      }
    } else {
      const had = origin.neighbours.has(p.neighbour);
      if (p.up && !had) origin.neighbours.add(p.neighbour);
      else if (!p.up && had) origin.neighbours.delete(p.neighbour);
      if (had !== p.up) {
        cl.topVersion++;
        this.#host.markDirty(cl);
      }
    }
    this.flood(cl, p, p.path);
  }

  onFullTop(cl: ClusterState, sender: RemoteNode, p: FullTopUpdate): undefined {
    const me = this.#host.myNodeId;
    const origin = cl.nodes.get(p.src) ?? sender;
    if (p.seq < 0) return this.#drop('bad_seq');
    if (this.#absurdTs(p.timestamp)) return this.#drop('absurd_timestamp');
    if (!this.#accept(origin.topSeq, origin.topTs, p.seq, p.timestamp))
      return this.#drop('stale_update');
    origin.topSeq = p.seq;
    origin.topTs = p.timestamp;
    // every node the update describes is added first (as OpenSIPS does), so a neighbour
    // listed in an entry before the entry that describes it is not dropped
    if (this.#host.dbMode === 0) {
      for (const e of p.nodes) {
        if (e.nodeId === me || cl.nodes.has(e.nodeId) || e.description === undefined) continue;
        if (cl.nodes.size >= MAX_NODES_PER_CLUSTER) break;
        try {
          this.#host.discover(cl, e.nodeId, e.description);
        } catch {
          // a bad description: that entry is skipped below
        }
      }
    }
    let changed = false;
    p.nodes.forEach((e: TopologyEntry, i: number) => {
      if (e.nodeId === me) return;
      const node = cl.nodes.get(e.nodeId);
      if (node === undefined) return;
      const first = i === 0 && e.nodeId === p.src;
      // a node's own entry is its full adjacency at lsSeq; a relayed entry is the relayer's
      // view at (at most) that seq. Apply it link by link where it is newer than what we hold.
      const listed = new Set<number>();
      for (const nb of e.neighbours) if (nb !== e.nodeId && cl.nodes.has(nb)) listed.add(nb);
      if (first && e.neighbours.includes(me) && node.link === LinkState.DOWN) {
        this.#host.setLink(cl, node, LinkState.RESTART_PINGING);
      }
      const candidates = new Set<number>([...listed, ...node.neighbours, ...node.linkSeq.keys()]);
      const stamp: Stamp = { ts: e.lsTimestamp, seq: e.lsSeq };
      for (const nb of candidates) {
        if (nb === me) continue;
        // the relaying sender never lists itself in the entries of others
        if (!first && nb === p.src) continue;
        if (first) {
          // the originator's own snapshot is authoritative for all its links
          const known = node.linkSeq.get(nb) ?? NO_STAMP;
          const same = stamp.ts === known.ts && stamp.seq === known.seq;
          if (!newerStamp(stamp.ts, stamp.seq, known) && !same) continue;
          node.linkSeq.set(nb, stamp);
          node.relayedSeq.delete(nb);
        } else {
          // a relayer's view may lack updates it has not seen yet: use it only for links we
          // know nothing first-hand about (a restarted node, a healed partition)
          if (node.linkSeq.has(nb)) continue;
          const prev = node.relayedSeq.get(nb);
          if (prev !== undefined && !newerStamp(stamp.ts, stamp.seq, prev)) continue;
          node.relayedSeq.set(nb, stamp);
        }
        const up = listed.has(nb);
        if (up !== node.neighbours.has(nb)) {
          if (up) node.neighbours.add(nb);
          else node.neighbours.delete(nb);
          changed = true;
        }
      }
      if (this.#accept(node.lsSeq, node.lsTs, e.lsSeq, e.lsTimestamp)) {
        node.lsSeq = e.lsSeq;
        node.lsTs = e.lsTimestamp;
      }
    });
    if (changed) {
      cl.topVersion++;
      this.#host.markDirty(cl);
    }
    this.flood(cl, p, p.path);
  }

  onCapUpdate(cl: ClusterState, src: RemoteNode, p: CapUpdate): undefined {
    const me = this.#host.myNodeId;
    const origin = cl.nodes.get(p.src);
    if (origin === undefined) return this.#drop('unknown_node');
    if (p.seq < 0) return this.#drop('bad_seq');
    if (this.#absurdTs(p.timestamp)) return this.#drop('absurd_timestamp');
    if (!this.#accept(origin.capSeq, origin.capTs, p.seq, p.timestamp))
      return this.#drop('stale_update');
    for (const e of p.nodes)
      if (e.nodeId !== me && !cl.nodes.has(e.nodeId)) return this.#drop('unknown_node');
    origin.capSeq = p.seq;
    origin.capTs = p.timestamp;
    for (const e of p.nodes) {
      const n = cl.nodes.get(e.nodeId);
      if (n === undefined) continue;
      for (const c of e.caps) n.caps.set(c.name, c.ok);
    }
    if (p.requireReply) this.#sendCapUpdate(cl, src, false);
    this.flood(cl, p.requireReply ? { ...p, requireReply: false } : p, p.path);
    this.#host.capsLearnt(cl);
  }

  /** Pass an update on to my UP neighbours that are not on its path yet. */
  flood(cl: ClusterState, p: InternalPacket, path: number[]): void {
    if (path.length >= UPDATE_MAX_PATH_LEN) return;
    const onPath = new Set(path);
    const targets = [...cl.direct].filter((id) => !onPath.has(id));
    if (targets.length === 0) return;
    const out = encodePacket({ ...p, path: [...path, this.#host.myNodeId] } as InternalPacket);
    for (const id of targets) {
      const n = cl.nodes.get(id);
      if (n !== undefined) {
        this.#host.count('topology_sent');
        this.#host.send(cl, n, out, true);
      }
    }
  }

  #floodLs(cl: ClusterState, neighbour: number, up: boolean): void {
    cl.lsSeq++;
    cl.lsTs = this.#ts();
    const pkt = encodePacket({
      kind: 'ls_update',
      cluster: cl.id,
      src: this.#host.myNodeId,
      seq: cl.lsSeq,
      timestamp: cl.lsTs,
      neighbour,
      up,
      path: [this.#host.myNodeId],
    });
    for (const id of [...cl.direct]) {
      if (id === neighbour) continue;
      const n = cl.nodes.get(id);
      if (n === undefined) continue;
      this.#host.count('topology_sent');
      this.#host.send(cl, n, pkt, true);
    }
  }

  #sendFullTop(cl: ClusterState, to: RemoteNode): void {
    const me = this.#host.myNodeId;
    cl.topSeq++;
    const nodes: TopologyEntry[] = [
      { nodeId: me, lsSeq: cl.lsSeq, lsTimestamp: cl.lsTs, neighbours: [...cl.direct] },
    ];
    for (const n of cl.nodes.values()) {
      if (n.id === to.id) continue;
      const e: TopologyEntry = {
        nodeId: n.id,
        lsSeq: n.lsSeq,
        lsTimestamp: n.lsTs,
        neighbours: [...n.neighbours],
      };
      if (this.#host.dbMode === 0 && !to.peerKnows.has(n.id)) e.description = n.describe();
      nodes.push(e);
    }
    this.#host.count('topology_sent');
    this.#host.send(
      cl,
      to,
      encodePacket({
        kind: 'full_top_update',
        cluster: cl.id,
        src: me,
        seq: cl.topSeq,
        timestamp: this.#ts(),
        nodes,
        path: [me],
      }),
      true,
    );
  }

  /** Send my capability states to every UP neighbour (flooded on by them). */
  advertiseCaps(cl: ClusterState): void {
    if (!cl.enabled || cl.direct.size === 0) return;
    cl.capSeq++;
    const pkt = encodePacket({
      kind: 'cap_update',
      cluster: cl.id,
      src: this.#host.myNodeId,
      seq: cl.capSeq,
      timestamp: this.#ts(),
      nodes: [this.#host.myCaps(cl)],
      requireReply: false,
      path: [this.#host.myNodeId],
    });
    for (const id of [...cl.direct]) {
      const n = cl.nodes.get(id);
      if (n === undefined) continue;
      this.#host.count('topology_sent');
      this.#host.send(cl, n, pkt, true);
    }
  }

  #sendCapUpdate(cl: ClusterState, to: RemoteNode, requireReply: boolean): void {
    cl.capSeq++;
    const mine = this.#host.myCaps(cl);
    const nodes: CapabilityEntry[] = [mine];
    for (const n of cl.nodes.values()) {
      if (n.id !== to.id && n.caps.size > 0) {
        nodes.push({ nodeId: n.id, caps: [...n.caps].map(([name, ok]) => ({ name, ok })) });
      }
    }
    this.#host.count('topology_sent');
    this.#host.send(
      cl,
      to,
      encodePacket({
        kind: 'cap_update',
        cluster: cl.id,
        src: this.#host.myNodeId,
        seq: cl.capSeq,
        timestamp: this.#ts(),
        nodes,
        requireReply,
        path: [this.#host.myNodeId],
      }),
      true,
    );
  }
}
