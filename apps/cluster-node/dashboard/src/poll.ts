/** Loading what has no event: a view asks the node again every few seconds while shown. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

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
