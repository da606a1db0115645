/**
 * The Health view: one line per alert rule, green, amber or red with what it means, worst
 * first, from this node's MI (the cluster as loaded for the Cluster view, its relays, its
 * failure counters). Prometheus waits `for:` a while before it fires; this shows the state now.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ClusterView } from './cluster.js';
import {
  clusterChecks,
  counterCheck,
  failureCounters,
  type HealthCheck,
  type Level,
  relayChecks,
  worst,
  worstFirst,
} from './health.js';
import { loadRelays } from './media.js';
import type { MiCall } from './mi.js';
import { usePoll } from './poll.js';

const REFRESH_MS = 5000;
const LEVEL_TEXT: Record<Level, string> = { ok: 'OK', warn: 'Warning', crit: 'Critical' };

/** The failure counters' rise over the last poll. */
function useCounters(call: MiCall, connected: boolean): HealthCheck | undefined {
  const [watched, setWatched] = useState<string[] | undefined>(undefined);
  useEffect(() => {
    if (!connected) return;
    call<Record<string, string>>('list_statistics').then(
      (kinds) => setWatched(failureCounters(kinds)),
      () => setWatched([]),
    );
  }, [call, connected]);
  const load = useMemo(
    () =>
      connected && watched !== undefined && watched.length > 0
        ? () => call<Record<string, number>>('get_statistics', { statistics: watched })
        : undefined,
    [call, connected, watched],
  );
  const values = usePoll(load, REFRESH_MS);
  const last = useRef<{ values: Record<string, number>; at: number } | undefined>(undefined);
  const [check, setCheck] = useState<HealthCheck | undefined>(undefined);
  useEffect(() => {
    const v = values.data;
    if (v === undefined) return;
    const before = last.current;
    const seconds = before === undefined ? 0 : Math.round((values.at - before.at) / 1000);
    setCheck(counterCheck(before?.values, v, Object.keys(v).length, seconds));
    last.current = { values: v, at: values.at };
  }, [values.data, values.at]);
  return watched?.length === 0 ? undefined : check;
}

export function HealthPanel({
  call,
  connected,
  cluster,
}: {
  call: MiCall;
  connected: boolean;
  cluster: ClusterView | undefined;
}) {
  const loadMedia = useMemo(
    () => (connected ? () => loadRelays(call) : undefined),
    [call, connected],
  );
  const relays = usePoll(loadMedia, REFRESH_MS);
  const counters = useCounters(call, connected);
  const checks: HealthCheck[] = [
    connected
      ? { id: 'mi', level: 'ok', title: 'MI connected', text: 'This page sees the node live.' }
      : {
          id: 'mi',
          level: 'crit',
          title: 'MI not connected',
          text: 'The node does not answer this page: what follows may be stale.',
        },
    ...(cluster === undefined ? [] : clusterChecks(cluster)),
    ...(relays.data === undefined ? [] : relayChecks(relays.data)),
    ...(counters === undefined ? [] : [counters]),
  ];
  const shown = worstFirst(checks);
  const overall = worst(shown);
  return (
    <section class="card" aria-labelledby="health-h">
      <h2 id="health-h">Health</h2>
      <p class={`health-sum level--${overall}`} data-testid="health-overall" data-level={overall}>
        <strong>{LEVEL_TEXT[overall]}</strong>
        {overall === 'ok'
          ? ': nothing an alert rule would fire on.'
          : `: ${shown.filter((c) => c.level !== 'ok').length} of ${shown.length} checks need a look.`}
      </p>
      <ul class="health" aria-label="Checks, worst first">
        {shown.map((c) => (
          <li key={c.id} class={`level--${c.level}`} data-check={c.id} data-level={c.level}>
            <span class="health-level">{LEVEL_TEXT[c.level]}</span>
            <div>
              <strong>{c.title}</strong>
              <p>{c.text}</p>
            </div>
          </li>
        ))}
      </ul>
      {cluster === undefined && <p class="muted">Loading the cluster…</p>}
    </section>
  );
}
