import type { Clock, Logger } from '@sipedge/core';
import { encodePacket } from '../bin/packet.js';
import type { ClusterState } from '../nodes/clusters.js';
import { LinkState, type RemoteNode } from '../nodes/remote-node.js';
import type { BinTransport } from '../runtime.js';

/** What the links need: the transport, and the topology work of a link entering or leaving UP. */
export interface LinksHost {
  readonly myNodeId: number;
  readonly transport: BinTransport;
  readonly clock: Clock;
  readonly log: Logger;
  count(name: string, n?: number): void;
  /** The link to `node` came UP: flood it and give the neighbour our topology. */
  linkUp(cl: ClusterState, node: RemoteNode): void;
  /** The link to `node` left UP: flood it. */
  linkDown(cl: ClusterState, node: RemoteNode): void;
  /** The peer asked for our node list on a link we hold UP (it restarted): resend the topology. */
  resendTopology(cl: ClusterState, node: RemoteNode): void;
  /** The cluster's routes must be recomputed. */
  markDirty(cl: ClusterState): void;
}

export interface LinkTimers {
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly nodeTimeoutMs: number;
}

/**
 * My link to each node: pings on idle links, pongs, and the OpenSIPS link state
 * machine (RESTART_PINGING → RESTARTED → UP; RETRYING, RETRY_SEND_FAIL, DOWN) with sipedge's
 * no-flap rule: UP is left only after a ping and its confirmation both went unanswered.
 * Every packet to a neighbour goes out through `send`, so a failed send is a link event.
 */
export class Links {
  readonly #host: LinksHost;
  readonly #timers: LinkTimers;

  constructor(host: LinksHost, timers: LinkTimers) {
    this.#host = host;
    this.#timers = timers;
  }

  /** Send a packet on the link to a neighbour; a failure moves the link as a TCP failure does. */
  send(
    cl: ClusterState,
    node: RemoteNode,
    packet: Buffer,
    internal: boolean,
    bulk = false,
  ): boolean {
    this.#host.count('sent_packets');
    const t = this.#host.transport;
    const ok =
      bulk && t.sendBulk !== undefined ? t.sendBulk(node.addr, packet) : t.send(node.addr, packet);
    if (!internal) node.lastSent = this.#host.clock.now();
    if (!ok) {
      this.#host.count('send_failures');
      this.sendFailed(cl, node);
    }
    return ok;
  }

  /** A send to (or the connection of) a node failed: the OpenSIPS TCP-failure transitions. */
  sendFailed(cl: ClusterState, node: RemoteNode): void {
    switch (node.link) {
      case LinkState.UP:
        this.setLink(cl, node, LinkState.RESTART_PINGING);
        return;
      case LinkState.RESTARTED:
        this.#afterFailedPing(cl, node, node.noPingRetries);
        return;
      case LinkState.RETRYING:
        this.#afterFailedPing(cl, node, node.retries);
        return;
      default:
        return;
    }
  }

  /** Change a link's state, doing the topology work of entering or leaving UP. */
  setLink(cl: ClusterState, node: RemoteNode, state: LinkState): void {
    const wasUp = node.link === LinkState.UP;
    node.link = state;
    if (state !== LinkState.UP) node.suspect = false;
    if (wasUp === (state === LinkState.UP)) return;
    cl.topVersion++;
    this.#host.markDirty(cl);
    if (state === LinkState.UP) {
      cl.direct.add(node.id);
      this.#host.log.info({ cluster: cl.id, node: node.id }, 'link up');
      this.#host.linkUp(cl, node);
    } else {
      cl.direct.delete(node.id);
      this.#host.log.info({ cluster: cl.id, node: node.id }, 'link down');
      this.#host.linkDown(cl, node);
    }
  }

  #ping(cl: ClusterState, node: RemoteNode, withList: boolean): boolean {
    const now = this.#host.clock.now();
    node.lastPing = now;
    node.awaitingPong = true;
    this.#host.count('pings_sent');
    const pkt = encodePacket({
      kind: 'ping',
      cluster: cl.id,
      src: this.#host.myNodeId,
      reqNodeList: withList,
    });
    this.#host.count('sent_packets');
    const ok = this.#host.transport.send(node.addr, pkt);
    if (!ok) this.#host.count('send_failures');
    return ok;
  }

  /**
   * One heartbeat tick: the link state machine of every enabled node
   * (docs/protocols/bin-clusterer.md §3).
   */
  tick(clusters: Iterable<ClusterState>): void {
    const now = this.#host.clock.now();
    for (const cl of clusters) {
      if (!cl.enabled) continue;
      for (const node of cl.nodes.values()) {
        if (!node.enabled) continue;
        this.#tickNode(cl, node, now);
      }
    }
  }

  #tickNode(cl: ClusterState, n: RemoteNode, now: number): void {
    const { pingIntervalMs, pingTimeoutMs, nodeTimeoutMs } = this.#timers;
    const sincePing = now - n.lastPing;
    const timedOut = n.awaitingPong && sincePing >= pingTimeoutMs;
    switch (n.link) {
      case LinkState.RESTART_PINGING:
        if (this.#ping(cl, n, true)) n.link = LinkState.RESTARTED;
        else this.#afterFailedPing(cl, n, n.noPingRetries);
        return;
      case LinkState.RETRY_SEND_FAIL:
        if (sincePing < pingTimeoutMs) return;
        n.retries--;
        if (this.#ping(cl, n, true)) n.link = LinkState.RETRYING;
        else if (n.retries <= 0) this.setLink(cl, n, LinkState.DOWN);
        return;
      case LinkState.RESTARTED:
      case LinkState.RETRYING:
        if (!timedOut) return;
        if (n.link === LinkState.RESTARTED) n.retries = n.noPingRetries;
        if (n.retries <= 0) {
          this.setLink(cl, n, LinkState.DOWN);
          return;
        }
        n.retries--;
        n.link = LinkState.RETRYING;
        if (!this.#ping(cl, n, true)) this.#afterFailedPing(cl, n, n.retries);
        return;
      case LinkState.UP:
        if (timedOut) {
          if (!n.suspect) {
            // first missed pong: confirm with one more ping before leaving UP
            n.suspect = true;
            if (!this.#ping(cl, n, false)) this.#afterFailedPing(cl, n, n.noPingRetries);
            return;
          }
          if (n.noPingRetries <= 0) {
            this.setLink(cl, n, LinkState.DOWN);
            return;
          }
          n.retries = n.noPingRetries - 1;
          this.setLink(cl, n, LinkState.RETRYING);
          if (!this.#ping(cl, n, true)) this.#afterFailedPing(cl, n, n.retries);
          return;
        }
        if (!n.awaitingPong && now - Math.max(n.lastPing, n.lastSent) >= pingIntervalMs) {
          if (!this.#ping(cl, n, false)) this.#afterFailedPing(cl, n, n.noPingRetries);
        }
        return;
      case LinkState.DOWN:
        if (sincePing >= nodeTimeoutMs) {
          if (this.#ping(cl, n, true)) n.link = LinkState.RESTARTED;
          else this.#afterFailedPing(cl, n, n.noPingRetries);
        }
        return;
    }
  }

  #afterFailedPing(cl: ClusterState, n: RemoteNode, retries: number): void {
    if (retries <= 0) {
      this.setLink(cl, n, LinkState.DOWN);
      return;
    }
    n.retries = retries;
    this.setLink(cl, n, LinkState.RETRY_SEND_FAIL);
  }

  onPing(cl: ClusterState, src: RemoteNode, withList: boolean): undefined {
    this.#host.count('pings_recv');
    const nodes = withList ? [...cl.nodes.keys()].filter((id) => id !== src.id) : [];
    const ok = this.send(
      cl,
      src,
      encodePacket({ kind: 'pong', cluster: cl.id, src: this.#host.myNodeId, nodes }),
      true,
    );
    const now = this.#host.clock.now();
    if (
      ok &&
      withList &&
      src.link === LinkState.UP &&
      now - src.lastTopologyResync >= this.#timers.pingIntervalMs
    ) {
      // a list request on a link we hold UP: the peer restarted or lost its state; give it
      // the topology it would have got had we seen the link go down and up (at most once
      // per ping_interval, as each FULL_TOP_UPDATE is flooded)
      src.lastTopologyResync = now;
      this.#host.resendTopology(cl, src);
    }
    if (ok && (src.link === LinkState.DOWN || src.link === LinkState.RETRY_SEND_FAIL)) {
      // the peer is back: probe it now rather than at the next node_timeout
      if (this.#ping(cl, src, true)) src.link = LinkState.RESTARTED;
    }
  }

  onPong(cl: ClusterState, src: RemoteNode, known: number[]): undefined {
    this.#host.count('pongs_recv');
    const now = this.#host.clock.now();
    src.lastPong = now;
    if (known.length > 0) src.peerKnows = new Set(known);
    const timely = src.awaitingPong && now - src.lastPing < this.#timers.pingTimeoutMs;
    if (src.link === LinkState.UP) {
      // any pong, even a late one, proves the peer alive: clears a suspect link
      src.awaitingPong = false;
      src.suspect = false;
      return;
    }
    if (!timely) {
      this.#host.count('drop_late_pong');
      return;
    }
    src.awaitingPong = false;
    this.setLink(cl, src, LinkState.UP);
  }

  /**
   * SYNC or SYNC_END straight from `src` (from its own host, on a direct UP link) while its pong
   * is due: sync data proves it alive as a pong would, since its pongs travel behind the
   * stream in the kernel's socket buffers (README, "sync streams").
   */
  syncAsPong(src: RemoteNode, fromHost: string): void {
    if (
      src.link === LinkState.UP &&
      src.awaitingPong &&
      src.nextHop === src.id &&
      fromHost === src.addr.host
    ) {
      this.#host.count('sync_as_pong');
      src.awaitingPong = false;
      src.suspect = false;
    }
  }
}
