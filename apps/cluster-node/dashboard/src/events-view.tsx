/** The Events view: the newest MI events first, filtered by any text of their name or params. */
import { useMemo, useState } from 'preact/hooks';
import type { MiEvent } from './mi.js';

function text(e: MiEvent): string {
  return `${e.name} ${JSON.stringify(e.params)}`;
}

export function EventsPanel({
  events,
  onClear,
}: {
  events: readonly MiEvent[];
  onClear: () => void;
}) {
  const [filter, setFilter] = useState('');
  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const list = f === '' ? events : events.filter((e) => text(e).toLowerCase().includes(f));
    return list.slice().reverse();
  }, [events, filter]);
  return (
    <section class="card" aria-labelledby="events-h">
      <h2 id="events-h">Events</h2>
      <div class="toolbar">
        <label for="event-filter">Filter</label>
        <input
          id="event-filter"
          type="search"
          value={filter}
          placeholder="E_CLUSTERER, node_id 2…"
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
        <button type="button" onClick={onClear}>
          Clear
        </button>
        <span class="muted small" aria-live="polite">
          {`${shown.length} of ${events.length}`}
        </span>
      </div>
      {shown.length === 0 ? (
        <p class="muted">No events yet.</p>
      ) : (
        <ol class="events" aria-label="Events, newest first" data-testid="events">
          {shown.map((e) => (
            <li key={e.seq} data-event={e.name}>
              <time dateTime={e.at.toISOString()}>{e.at.toLocaleTimeString()}</time>
              <strong>{e.name}</strong>
              <code>{JSON.stringify(e.params)}</code>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
