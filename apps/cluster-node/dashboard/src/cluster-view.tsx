/** The Cluster view: the graph, then the same facts as tables (nodes, sharing tags, capabilities). */
import type { ClusterNodeView, ClusterView, NodeState } from './cluster.js';

const STATE_TEXT: Record<NodeState, string> = {
  self: 'this node',
  up: 'up',
  relayed: 'via a hop',
  down: 'down',
  disabled: 'disabled',
};

const SIZE = 320;
const RADIUS = 110;
const DOT = 30;

function place(nodes: readonly ClusterNodeView[]): Map<number, { x: number; y: number }> {
  const at = new Map<number, { x: number; y: number }>();
  nodes.forEach((n, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / nodes.length;
    const r = nodes.length === 1 ? 0 : RADIUS;
    at.set(n.id, { x: SIZE / 2 + r * Math.cos(angle), y: SIZE / 2 + r * Math.sin(angle) });
  });
  return at;
}

function holders(view: ClusterView, id: number): string[] {
  return view.tags.filter((t) => t.states.get(id) === 'active').map((t) => t.key);
}

function Graph({ view }: { view: ClusterView }) {
  const at = place(view.nodes);
  return (
    <svg
      class="graph"
      viewBox={`0 0 ${SIZE} ${SIZE}`}
      role="img"
      aria-labelledby="graph-title"
      data-testid="cluster-graph"
    >
      <title id="graph-title">
        {`Cluster ${view.clusterId}: ${view.nodes.map((n) => `node ${n.id} ${STATE_TEXT[n.state]}`).join(', ')}`}
      </title>
      {view.links.map((l) => {
        const a = at.get(l.a);
        const b = at.get(l.b);
        if (a === undefined || b === undefined) return null;
        return (
          <line
            key={`${l.a}-${l.b}`}
            class={l.up ? 'link link--up' : 'link link--down'}
            data-link={`${l.a}-${l.b}`}
            data-up={String(l.up)}
            x1={a.x}
            y1={a.y}
            x2={b.x}
            y2={b.y}
          />
        );
      })}
      {view.nodes.map((n) => {
        const p = at.get(n.id)!;
        const tags = holders(view, n.id);
        return (
          <g
            key={n.id}
            class={`node node--${n.state}`}
            data-node-id={n.id}
            data-state={n.state}
            data-tags={tags.join(' ')}
          >
            <circle cx={p.x} cy={p.y} r={DOT} />
            <text x={p.x} y={p.y - 4} class="node-id">
              {n.id}
            </text>
            <text x={p.x} y={p.y + 12} class="node-state">
              {STATE_TEXT[n.state]}
            </text>
            {tags.length > 0 && (
              <text x={p.x} y={p.y + DOT + 16} class="node-tags">
                {`★ ${tags.join(', ')}`}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}

function NodeTable({ view }: { view: ClusterView }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolled table must take focus to scroll by keyboard
    <section class="scroll" tabIndex={0} aria-labelledby="nodes-h">
      <table>
        <caption id="nodes-h">Nodes</caption>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Link</th>
            <th scope="col">Next hop</th>
            <th scope="col">BIN</th>
          </tr>
        </thead>
        <tbody>
          {view.nodes.map((n) => (
            <tr key={n.id} data-node-row={n.id}>
              <th scope="row">{n.id}</th>
              <td>{n.label}</td>
              <td>
                <span class={`badge badge--${n.state}`}>{STATE_TEXT[n.state]}</span>
              </td>
              <td>{n.link}</td>
              <td>{n.nextHop}</td>
              <td class="mono">{n.url || '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function StateTable(props: {
  id: string;
  caption: string;
  head: string;
  rows: ReadonlyArray<{ key: string; states: ReadonlyMap<number, string> }>;
  view: ClusterView;
  empty: string;
}) {
  const { view } = props;
  if (props.rows.length === 0) return <p class="muted">{props.empty}</p>;
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolled table must take focus to scroll by keyboard
    <section class="scroll" tabIndex={0} aria-labelledby={props.id}>
      <table>
        <caption id={props.id}>{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">{props.head}</th>
            {view.nodes.map((n) => (
              <th scope="col" key={n.id}>{`node ${n.id}`}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr key={r.key} data-row={r.key}>
              <th scope="row" class="mono">
                {r.key}
              </th>
              {view.nodes.map((n) => {
                const s = r.states.get(n.id) ?? 'unknown';
                return (
                  <td key={n.id} data-node={n.id} data-value={s}>
                    <span class={`badge badge--${s.replace(/\s+/g, '-')}`}>{s}</span>
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function ClusterPanel({ view, error }: { view: ClusterView | undefined; error: string }) {
  if (view === undefined) {
    return <p class="muted">{error === '' ? 'Loading the cluster…' : error}</p>;
  }
  return (
    <div class="cluster">
      <section class="card" aria-labelledby="graph-h">
        <h2 id="graph-h">{`Cluster ${view.clusterId}`}</h2>
        <Graph view={view} />
        <p class="muted small">
          {`Seen from node ${view.self}, ${view.at.toLocaleTimeString()}.`}
          {error === '' ? '' : ` ${error}`}
        </p>
      </section>
      <section class="card" aria-label="Cluster tables">
        <NodeTable view={view} />
        <StateTable
          id="tags-h"
          caption="Sharing tags"
          head="Tag"
          rows={view.tags}
          view={view}
          empty="No sharing tags."
        />
        <StateTable
          id="caps-h"
          caption="Capabilities (sync state)"
          head="Capability"
          rows={view.caps.map((c) => ({ key: c.name, states: c.states }))}
          view={view}
          empty="No capabilities."
        />
      </section>
    </div>
  );
}
