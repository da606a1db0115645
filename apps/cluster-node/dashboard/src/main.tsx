/**
 * The dashboard: one MI WebSocket, every MI event subscribed, the cluster reloaded when a
 * clusterer or status event arrives (and every few seconds, for what other nodes change without
 * telling this one). Views are chosen by the URL fragment (`#cluster`, `#registrations`,
 * `#media`, `#events`, `#health`). Every state change is asked for in a confirm dialog first.
 */
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  type ClusterView,
  clusterView,
  type LocalCluster,
  loadLocal,
  loadRemote,
  type NodeFacts,
} from './cluster.js';
import { ClusterPanel } from './cluster-view.js';
import { ConfirmDialog, type ConfirmRequest } from './confirm-dialog.js';
import { EventsPanel } from './events-view.js';
import { HealthPanel } from './health-view.js';
import { MediaPanel } from './media-view.js';
import { type MiCall, type MiEvent, MiSocket, type MiState, miWsUrl } from './mi.js';
import { RegistrationsPanel } from './registrations-view.js';
import './style.css';

const TOKEN_KEY = 'sipedge.mi.token';
const MAX_EVENTS = 1000;
const REFRESH_MS = 3000;
/** Reloads after a node state change, while the survivors settle who holds what. */
const FOLLOW_UP_MS = [300, 700, 1200, 2000];
const VIEWS = [
  { id: 'cluster', title: 'Cluster' },
  { id: 'registrations', title: 'Registrations' },
  { id: 'media', title: 'Media' },
  { id: 'events', title: 'Events' },
  { id: 'health', title: 'Health' },
] as const;
type ViewId = (typeof VIEWS)[number]['id'];

function viewFromHash(): ViewId {
  const id = location.hash.replace(/^#\/?/, '');
  return VIEWS.find((v) => v.id === id)?.id ?? 'cluster';
}

function readToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

const STATE_TEXT: Record<MiState, string> = {
  connecting: 'connecting…',
  open: 'connected',
  offline: 'reconnecting…',
  refused: 'refused',
};

function TokenForm({
  onToken,
  refused,
}: {
  onToken: (t: string | undefined) => void;
  refused: boolean;
}) {
  const [value, setValue] = useState('');
  return (
    <form
      class="card token"
      onSubmit={(e) => {
        e.preventDefault();
        onToken(value === '' ? undefined : value);
      }}
    >
      <h2>MI token</h2>
      {refused && (
        <p role="alert">
          The node did not accept the MI connection. If it has an MI token, enter it; it is kept for
          this tab only.
        </p>
      )}
      <label for="token">Token</label>
      <input
        id="token"
        type="password"
        autocomplete="off"
        value={value}
        onInput={(e) => setValue(e.currentTarget.value)}
      />
      <button type="submit">Connect</button>
    </form>
  );
}

function App({ wsPath }: { wsPath: string }) {
  const [token, setToken] = useState(readToken);
  const [state, setState] = useState<MiState>('connecting');
  const [view, setView] = useState<ViewId>(viewFromHash);
  const [cluster, setCluster] = useState<ClusterView | undefined>(undefined);
  const [clusterError, setClusterError] = useState('');
  const [events, setEvents] = useState<readonly MiEvent[]>([]);
  const [askToken, setAskToken] = useState(false);
  /**
   * The node refused the connection and none has opened since: the token form stays up while
   * the socket retries (a form that came and went with each retry lost what was typed).
   */
  const [refused, setRefused] = useState(false);
  const mi = useRef<MiSocket | undefined>(undefined);
  const reload = useRef<() => void>(() => {});
  const [confirm, setConfirm] = useState<ConfirmRequest | undefined>(undefined);
  const call = useCallback<MiCall>(
    <T,>(method: string, params?: Record<string, unknown>) =>
      mi.current === undefined
        ? Promise.reject(new Error('MI not connected'))
        : mi.current.call<T>(method, params),
    [],
  );
  const connected = state === 'open';

  useEffect(() => {
    const onHash = () => setView(viewFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    let pending: number | undefined;
    let loading = false;
    let again = false;
    let local: LocalCluster | undefined;
    const remote = new Map<number, NodeFacts>();
    const asking = new Set<number>();
    const show = (): void => {
      if (local !== undefined) setCluster(clusterView(local, remote));
    };
    const askRemote = (socket: MiSocket, l: LocalCluster): void => {
      for (const n of l.nodes) {
        if ((n.state !== 'up' && n.state !== 'relayed') || asking.has(n.id)) continue;
        asking.add(n.id);
        loadRemote(socket, l.clusterId, n.id)
          .then(
            (facts) => remote.set(n.id, facts),
            () => remote.delete(n.id),
          )
          .finally(() => {
            asking.delete(n.id);
            show();
          });
      }
    };
    const refresh = async (): Promise<void> => {
      const socket = mi.current;
      if (socket === undefined) return;
      if (loading) {
        again = true;
        return;
      }
      loading = true;
      try {
        local = await loadLocal(socket);
        show();
        setClusterError('');
        askRemote(socket, local);
      } catch (err) {
        setClusterError(`Could not load the cluster: ${(err as Error).message}`);
      } finally {
        loading = false;
        if (again) {
          again = false;
          void refresh();
        }
      }
    };
    // events come in bursts (a node down moves tags and links): one reload per burst
    reload.current = () => {
      if (pending !== undefined) return;
      pending = window.setTimeout(() => {
        pending = undefined;
        void refresh();
      }, 100);
    };
    const socket = new MiSocket({
      url: miWsUrl(location, wsPath),
      token,
      onState: (s) => {
        setState(s);
        if (s === 'refused') setRefused(true);
        else if (s === 'open') setRefused(false);
      },
      onEvent: (e) => {
        setEvents((list) => [...list.slice(-(MAX_EVENTS - 1)), e]);
        if (e.name.startsWith('E_CLUSTERER_') || e.name === 'E_CORE_SR_STATUS_CHANGED') {
          reload.current();
        }
        // another node takes over the tags of a lost one without telling this node: look again
        if (e.name === 'E_CLUSTERER_NODE_STATE_CHANGED') {
          for (const ms of FOLLOW_UP_MS) window.setTimeout(() => reload.current(), ms);
        }
      },
      onOpen: () => {
        setAskToken(false);
        void (async () => {
          const list = await socket.call<{ Events: Array<{ name: string }> }>('events_list');
          await Promise.all(
            list.Events.map((e) => socket.call('event_subscribe', { event: e.name })),
          );
        })().catch(() => {});
        void refresh();
      },
    });
    mi.current = socket;
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') void refresh();
    }, REFRESH_MS);
    return () => {
      window.clearInterval(timer);
      if (pending !== undefined) window.clearTimeout(pending);
      socket.close();
      mi.current = undefined;
    };
  }, [token, wsPath]);

  const onToken = useCallback((t: string | undefined) => {
    if (t === undefined) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, t);
    setAskToken(false);
    setToken(t);
  }, []);

  const title = VIEWS.find((v) => v.id === view)?.title ?? '';
  useEffect(() => {
    document.title = `${title} · sipedge`;
  }, [title]);

  return (
    <>
      <header>
        <h1>sipedge</h1>
        <nav aria-label="Views">
          {VIEWS.map((v) => (
            <a key={v.id} href={`#${v.id}`} aria-current={v.id === view ? 'page' : undefined}>
              {v.title}
            </a>
          ))}
        </nav>
        <p class={`status status--${state}`} data-mi-state={state} aria-live="polite">
          {`MI ${STATE_TEXT[state]}`}
        </p>
        <button type="button" onClick={() => setAskToken((a) => !a)}>
          Token
        </button>
      </header>
      <main>
        {(askToken || refused) && <TokenForm onToken={onToken} refused={refused} />}
        {view === 'cluster' && <ClusterPanel view={cluster} error={clusterError} />}
        {view === 'registrations' && (
          <RegistrationsPanel call={call} connected={connected} onConfirm={setConfirm} />
        )}
        {view === 'media' && (
          <MediaPanel call={call} connected={connected} onConfirm={setConfirm} />
        )}
        {view === 'events' && <EventsPanel events={events} onClear={() => setEvents([])} />}
        {view === 'health' && <HealthPanel call={call} connected={connected} cluster={cluster} />}
      </main>
      <ConfirmDialog request={confirm} onDone={() => setConfirm(undefined)} />
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) {
  render(<App wsPath={root.dataset.miWs ?? '/mi/ws'} />, root);
}
