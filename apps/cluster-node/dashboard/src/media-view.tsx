/**
 * The Media view: the RTP relays this node balances, per rtp cluster, with weight, capacity,
 * load, sessions and state; a relay can be drained (`rtp_cluster_delete`: no new calls, removed
 * when its last call ends), paused and resumed.
 */
import { useMemo } from 'preact/hooks';
import type { ConfirmRequest } from './confirm-dialog.js';
import { loadRelays, type Relay, type RelayCluster } from './media.js';
import type { MiCall } from './mi.js';
import { usePoll } from './poll.js';

const REFRESH_MS = 3000;

function stateClass(r: Relay): string {
  if (r.state === 'offline') return 'badge--down';
  if (r.state === 'probing') return 'badge--relayed';
  return 'badge--up';
}

function RelayTable({
  cluster,
  act,
}: {
  cluster: RelayCluster;
  act: (cluster: string, r: Relay, what: 'drain' | 'pause' | 'resume') => void;
}) {
  return (
    <table class="stack" data-rtp-cluster={cluster.name}>
      <caption>{`${cluster.name}: ${cluster.members.length} relays, ${cluster.calls} calls`}</caption>
      <thead>
        <tr>
          <th scope="col">Relay</th>
          <th scope="col">State</th>
          <th scope="col">Status</th>
          <th scope="col">Weight</th>
          <th scope="col">Capacity</th>
          <th scope="col">Load</th>
          <th scope="col">Sessions</th>
          <th scope="col">RTT</th>
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {cluster.members.map((r) => (
          <tr key={r.name} data-relay={r.name} data-status={r.status} data-state={r.state}>
            <th scope="row" data-label="Relay">
              {r.name}
              <span class="mono muted small">{` ${r.address}`}</span>
            </th>
            <td data-label="State">
              <span class={`badge ${stateClass(r)}`}>{r.state}</span>
            </td>
            <td data-label="Status">
              <span class={`badge ${r.status === 'ACTIVE' ? 'badge--up' : 'badge--relayed'}`}>
                {r.status === 'SUSPENDED' ? 'paused' : r.status.toLowerCase()}
              </span>
            </td>
            <td data-label="Weight">{r.weight}</td>
            <td data-label="Capacity">{r.capacity}</td>
            <td data-label="Load">
              <meter
                min={0}
                max={1}
                high={0.8}
                value={r.utilization}
                aria-label={`Load of ${r.name}`}
              />
              {` ${Math.round(r.utilization * 100)}%`}
            </td>
            <td data-label="Sessions">{r.active_sessions ?? r.bound_calls}</td>
            <td data-label="RTT">{`${r.rtt_ms} ms`}</td>
            <td class="actions">
              {r.status === 'ACTIVE' && (
                <button
                  type="button"
                  aria-label={`Pause ${r.name}`}
                  onClick={() => act(cluster.name, r, 'pause')}
                >
                  Pause
                </button>
              )}
              {r.status === 'SUSPENDED' && (
                <button
                  type="button"
                  aria-label={`Resume ${r.name}`}
                  onClick={() => act(cluster.name, r, 'resume')}
                >
                  Resume
                </button>
              )}
              {r.status !== 'DRAINING' && (
                <button
                  type="button"
                  class="danger"
                  aria-label={`Drain ${r.name}`}
                  onClick={() => act(cluster.name, r, 'drain')}
                >
                  Drain
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function MediaPanel({
  call,
  connected,
  onConfirm,
}: {
  call: MiCall;
  connected: boolean;
  onConfirm: (r: ConfirmRequest) => void;
}) {
  const load = useMemo(() => (connected ? () => loadRelays(call) : undefined), [call, connected]);
  const relays = usePoll(load, REFRESH_MS);
  const act = (cluster: string, r: Relay, what: 'drain' | 'pause' | 'resume'): void => {
    const params = { cluster, member: r.name };
    if (what === 'resume') {
      call('rtp_cluster_resume', params).then(relays.reload, relays.reload);
      return;
    }
    onConfirm(
      what === 'drain'
        ? {
            title: `Drain ${r.name}?`,
            text: `${r.name} gets no new calls in ${cluster} and is removed from it when its last call ends. Adding it back needs rtp_cluster_add or a reload.`,
            action: 'Drain relay',
            run: async () => {
              await call('rtp_cluster_delete', params);
              relays.reload();
            },
          }
        : {
            title: `Pause ${r.name}?`,
            text: `${r.name} gets no new calls in ${cluster} until it is resumed; its calls go on.`,
            action: 'Pause relay',
            run: async () => {
              await call('rtp_cluster_pause', params);
              relays.reload();
            },
          },
    );
  };
  const clusters = relays.data;
  return (
    <section class="card" aria-labelledby="media-h">
      <h2 id="media-h">Media relays</h2>
      {clusters === undefined ? (
        <p class="muted">
          {relays.error === undefined
            ? 'Loading the relays…'
            : `Could not load the relays: ${relays.error.message}`}
        </p>
      ) : clusters.length === 0 ? (
        <p class="muted">This node balances no RTP relays (no rtp section in its configuration).</p>
      ) : (
        clusters.map((c) => <RelayTable key={c.name} cluster={c} act={act} />)
      )}
      <p class="muted small">
        The relays as this node balances them. Drain: no new calls, removed when its last call ends.
        Pause: no new calls until resumed.
      </p>
    </section>
  );
}
