/**
 * Next-hop computation over the directed link-state graph (docs/protocols/bin-clusterer.md §4.3),
 * but as a true shortest path: among my UP neighbours that start a fewest-hops path to the
 * destination, pick the lowest (priority, node id). OpenSIPS's best-first search by (priority, id)
 * may return a longer path; on the wire nothing depends on which hop a node picks.
 */
export interface RouteGraph {
  /** My UP neighbours. */
  readonly direct: ReadonlySet<number>;
  /** Reported adjacency of every other node (the local node never appears in it). */
  neighboursOf(id: number): Iterable<number> | undefined;
  priorityOf(id: number): number;
}

export interface RouteTable {
  /** Destination → first hop. A destination without an entry is unreachable. */
  nextHop: Map<number, number>;
  /** Destination → hop count of the chosen path. */
  distance: Map<number, number>;
}

function bfs(graph: RouteGraph, from: number, self: number): Map<number, number> {
  const dist = new Map<number, number>([[from, 0]]);
  const queue = [from];
  for (let qi = 0; qi < queue.length; qi++) {
    const cur = queue[qi] as number;
    const d = dist.get(cur) as number;
    const ns = graph.neighboursOf(cur);
    if (ns === undefined) continue;
    for (const n of ns) {
      if (n === self || dist.has(n)) continue;
      dist.set(n, d + 1);
      queue.push(n);
    }
  }
  return dist;
}

/** Compute the route table of `self`. With `rerouting` off only direct links count. */
export function computeRoutes(graph: RouteGraph, self: number, rerouting: boolean): RouteTable {
  const nextHop = new Map<number, number>();
  const distance = new Map<number, number>();
  const hops = [...graph.direct].sort((a, b) => graph.priorityOf(a) - graph.priorityOf(b) || a - b);
  for (const h of hops) {
    nextHop.set(h, h);
    distance.set(h, 1);
  }
  if (!rerouting) return { nextHop, distance };
  for (const h of hops) {
    for (const [dst, d] of bfs(graph, h, self)) {
      if (graph.direct.has(dst)) continue;
      const prev = distance.get(dst);
      // hops are in (priority, id) order, so only a strictly shorter path replaces a route
      if (prev === undefined || d + 1 < prev) {
        nextHop.set(dst, h);
        distance.set(dst, d + 1);
      }
    }
  }
  return { nextHop, distance };
}
