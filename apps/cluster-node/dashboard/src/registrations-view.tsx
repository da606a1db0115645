/**
 * The Registrations view: AoRs by prefix a page at a time (`ul_search`, answered from the node's
 * sorted index, so 100,000 AoRs cost no more than ten), each contact's Path, received address,
 * expiry counting down and the node that made it; a contact can be removed (`ul_rm_contact`).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ConfirmRequest } from './confirm-dialog.js';
import type { MiCall } from './mi.js';
import { usePoll, useSecondTick } from './poll.js';

/** The usrloc table a cluster-node keeps its bindings in. */
const TABLE = 'location';
const PAGE_SIZES = [25, 50, 100] as const;
const REFRESH_MS = 5000;
const TYPING_MS = 250;

interface SearchContact {
  Contact: string;
  Expires: number | string;
  Path?: string;
  Received?: string;
  'User-agent'?: string;
  Node_id: number;
  Sharing_tag?: string;
}
interface SearchPage {
  total: number;
  limit: number;
  next: string | null;
  AORs: Array<{ AOR: string; Contacts: SearchContact[] }>;
}

/** Seconds left at `now` of an `Expires` read at `at` (`permanent` and `expired` as they are). */
function expiresText(expires: number | string, at: number, now: number): string {
  if (typeof expires !== 'number') return expires;
  const left = expires - Math.floor((now - at) / 1000);
  if (left <= 0) return 'expired';
  const m = Math.floor(left / 60);
  return m > 0 ? `${m}m ${String(left % 60).padStart(2, '0')}s` : `${left}s`;
}

export function RegistrationsPanel({
  call,
  connected,
  onConfirm,
}: {
  call: MiCall;
  connected: boolean;
  onConfirm: (r: ConfirmRequest) => void;
}) {
  const [typed, setTyped] = useState('');
  const [prefix, setPrefix] = useState('');
  const [size, setSize] = useState<number>(PAGE_SIZES[0]);
  /** The `after` cursor of each page shown so far; the last is this page's. */
  const [cursors, setCursors] = useState<readonly (string | undefined)[]>([undefined]);
  const now = useSecondTick();

  useEffect(() => {
    const t = window.setTimeout(() => setPrefix(typed.trim()), TYPING_MS);
    return () => window.clearTimeout(t);
  }, [typed]);
  useEffect(() => setCursors([undefined]), [prefix, size]);

  const after = cursors[cursors.length - 1];
  const load = useMemo(
    () =>
      connected
        ? () =>
            call<SearchPage>('ul_search', {
              table_name: TABLE,
              prefix,
              limit: size,
              ...(after === undefined ? {} : { after }),
            })
        : undefined,
    [call, connected, prefix, size, after],
  );
  const page = usePoll(load, REFRESH_MS);
  const data = page.data;
  const first = (cursors.length - 1) * size;

  useEffect(() => {
    if (data !== undefined) performance.mark('sipedge:registrations-rendered');
  }, [data]);

  const remove = (aor: string, contact: string): void =>
    onConfirm({
      title: 'Remove this contact?',
      text: `${contact} of ${aor} goes from the location table of every node; the phone is unreachable until it registers again.`,
      action: 'Remove contact',
      run: async () => {
        await call('ul_rm_contact', { table_name: TABLE, aor, contact });
        page.reload();
      },
    });

  return (
    <section class="card" aria-labelledby="reg-h">
      <h2 id="reg-h">Registrations</h2>
      <form class="toolbar" aria-label="Search" onSubmit={(e) => e.preventDefault()}>
        <label for="reg-prefix">AoR starts with</label>
        <input
          id="reg-prefix"
          type="search"
          value={typed}
          placeholder="alice, 1001@example.com…"
          autocomplete="off"
          spellcheck={false}
          onInput={(e) => setTyped(e.currentTarget.value)}
        />
        <label for="reg-size">Per page</label>
        <select id="reg-size" value={size} onChange={(e) => setSize(Number(e.currentTarget.value))}>
          {PAGE_SIZES.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </form>
      <nav class="toolbar" aria-label="Pages">
        <button
          type="button"
          disabled={cursors.length === 1}
          onClick={() => setCursors((c) => c.slice(0, -1))}
        >
          ← Previous
        </button>
        <button
          type="button"
          disabled={data?.next == null}
          onClick={() => {
            const next = data?.next;
            if (next != null) setCursors((c) => [...c, next]);
          }}
        >
          Next →
        </button>
        <span class="muted small" aria-live="polite" data-testid="reg-count">
          {data === undefined
            ? page.error === undefined
              ? 'Searching…'
              : `Search failed: ${page.error.message}`
            : data.total === 0
              ? 'No AoR matches.'
              : `AoRs ${first + 1}–${first + data.AORs.length} of ${data.total}`}
        </span>
      </nav>
      {data !== undefined && data.AORs.length > 0 && (
        <table class="stack" data-testid="registrations">
          <caption class="visually-hidden">Contacts of the AoRs on this page</caption>
          <thead>
            <tr>
              <th scope="col">AoR</th>
              <th scope="col">Contact</th>
              <th scope="col">Path</th>
              <th scope="col">Received</th>
              <th scope="col">Expires</th>
              <th scope="col" title="The node that made the binding's last change">
                Node
              </th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {data.AORs.flatMap((a) =>
              a.Contacts.map((c, i) => (
                <tr key={`${a.AOR} ${c.Contact}`} data-aor={a.AOR}>
                  <th scope="row" class="mono" data-label="AoR">
                    {i === 0 ? a.AOR : <span class="muted">〃</span>}
                  </th>
                  <td class="mono wrap" data-label="Contact">
                    {c.Contact}
                  </td>
                  <td class="mono wrap" data-label="Path">
                    {c.Path ?? '—'}
                  </td>
                  <td class="mono" data-label="Received">
                    {c.Received ?? '—'}
                  </td>
                  <td data-label="Expires" data-testid="expires">
                    {expiresText(c.Expires, page.at, now)}
                  </td>
                  <td data-label="Node">
                    {`node ${c.Node_id}`}
                    {c.Sharing_tag === undefined ? '' : ` (${c.Sharing_tag})`}
                  </td>
                  <td>
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Remove ${c.Contact} of ${a.AOR}`}
                      onClick={() => remove(a.AOR, c.Contact)}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      )}
      <p class="muted small">
        Node: the cluster node that made the binding's last change (its registrar took the latest
        REGISTER, or it ran the MI command). Expiry counts down here between refreshes.
      </p>
    </section>
  );
}
