/** The dialog every state change goes through before it is sent to the node. */
import { useEffect, useRef, useState } from 'preact/hooks';

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
