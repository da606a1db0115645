/** Pieces the views share: MI calls, polling while a view is shown, and a confirm dialog. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** An MI call over the page's WebSocket; rejects while it is not connected. */
export type MiCall = <T>(method: string, params?: Record<string, unknown>) => Promise<T>;

export interface Polled<T> {
  readonly data: T | undefined;
  readonly error: Error | undefined;
  readonly at: number;
  readonly reload: () => void;
}

/**
 * `load` now and every `everyMs` while the page is visible; `load` undefined (not connected)
 * loads nothing. A new `load` (other params) loads at once.
 */
export function usePoll<T>(load: (() => Promise<T>) | undefined, everyMs: number): Polled<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; at: number }>({ at: 0 });
  const current = useRef(load);
  current.current = load;
  const run = useCallback(() => {
    const l = current.current;
    if (l === undefined) return;
    l().then(
      (data) => {
        if (current.current === l) setState({ data, at: Date.now() });
      },
      (error: Error) => {
        if (current.current === l) setState((s) => ({ ...s, error, at: Date.now() }));
      },
    );
  }, []);
  useEffect(() => {
    // what the last `load` answered is not an answer to this one
    setState({ at: 0 });
    run();
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') run();
    }, everyMs);
    return () => window.clearInterval(timer);
  }, [load, everyMs, run]);
  return { data: state.data, error: state.error, at: state.at, reload: run };
}

/** Now, in ms, once a second: for times that count down. */
export function useSecondTick(): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, []);
  return now;
}

export interface ConfirmRequest {
  readonly title: string;
  readonly text: string;
  readonly action: string;
  readonly run: () => Promise<unknown>;
}

/**
 * A modal dialog that asks before a state change, runs it, and says how it went. Escape or
 * Cancel closes it; Cancel has the focus first, so Enter alone changes nothing.
 */
export function ConfirmDialog({
  request,
  onDone,
}: {
  request: ConfirmRequest | undefined;
  onDone: (ok: boolean) => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    const d = ref.current;
    if (d === null) return;
    if (request !== undefined && !d.open) {
      setError('');
      setBusy(false);
      d.showModal();
    } else if (request === undefined && d.open) d.close();
  }, [request]);
  const confirm = (): void => {
    if (request === undefined) return;
    setBusy(true);
    request.run().then(
      () => onDone(true),
      (err: Error) => {
        setBusy(false);
        setError(err.message);
      },
    );
  };
  return (
    <dialog
      ref={ref}
      class="card confirm"
      aria-labelledby="confirm-h"
      aria-describedby="confirm-text"
      onCancel={(e) => {
        e.preventDefault();
        onDone(false);
      }}
    >
      <h2 id="confirm-h">{request?.title ?? ''}</h2>
      <p id="confirm-text">{request?.text ?? ''}</p>
      {error !== '' && <p role="alert" class="error">{`The node refused: ${error}`}</p>}
      <div class="toolbar">
        <button type="button" autofocus onClick={() => onDone(false)}>
          Cancel
        </button>
        <button type="button" class="danger" disabled={busy} onClick={confirm}>
          {request?.action ?? 'OK'}
        </button>
      </div>
    </dialog>
  );
}
