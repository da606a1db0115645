/**
 * The dashboard's only link to the node: MI JSON-RPC over the WebSocket the node already
 * serves (`mi.ws_path`), with event notifications on the same connection. The token travels as
 * a `bearer.<base64url>` subprotocol (a browser cannot set `Authorization` on a WebSocket),
 * never in a URL.
 */

export type MiState = 'connecting' | 'open' | 'offline' | 'refused';

/** An MI call over the page's WebSocket; rejects while it is not connected. */
export type MiCall = <T>(method: string, params?: Record<string, unknown>) => Promise<T>;

/** An MI event as it arrived. */
export interface MiEvent {
  readonly seq: number;
  readonly at: Date;
  readonly name: string;
  readonly params: Readonly<Record<string, unknown>>;
}

export interface MiSocketOptions {
  url: string;
  token: string | undefined;
  onState: (state: MiState) => void;
  onEvent: (event: MiEvent) => void;
  /** Called on every (re)connection, after which calls may be made. */
  onOpen: () => void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/** An MI error reply (`error.code`, `error.message`). */
export class MiCallError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function base64url(text: string): string {
  let bin = '';
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The MI WebSocket URL beside this page: same host and scheme, the path the node announces. */
export function miWsUrl(loc: Location, path: string): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}${path}`;
}

/** One WebSocket to the MI, reopened with back-off until `close()`. */
export class MiSocket {
  readonly #o: MiSocketOptions;
  readonly #pending = new Map<number, Pending>();
  #ws: WebSocket | undefined;
  #id = 0;
  #eventSeq = 0;
  #backoffMs = 500;
  #everOpened = false;
  #timer: number | undefined;
  #closed = false;

  constructor(options: MiSocketOptions) {
    this.#o = options;
    this.#connect();
  }

  /** Call an MI command; rejects on an error reply or a lost connection. */
  call<T>(method: string, params?: Record<string, unknown> | unknown[]): Promise<T> {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error('MI not connected'));
    }
    const id = ++this.#id;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      ws.send(JSON.stringify({ jsonrpc: '2.0', method, ...(params ? { params } : {}), id }));
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#ws?.close(1000);
  }

  #connect(): void {
    const protocols = ['sipedge-mi'];
    if (this.#o.token !== undefined) protocols.push(`bearer.${base64url(this.#o.token)}`);
    this.#o.onState('connecting');
    const ws = new WebSocket(this.#o.url, protocols);
    this.#ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.#everOpened = true;
      this.#backoffMs = 500;
      this.#o.onState('open');
      this.#o.onOpen();
    };
    ws.onmessage = (m) => this.#onMessage(String(m.data));
    ws.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error('MI connection lost'));
      this.#pending.clear();
      if (this.#closed) return;
      // a WebSocket refused at the upgrade (401, 403) never opens; the page cannot tell why
      this.#o.onState(!opened && !this.#everOpened ? 'refused' : 'offline');
      this.#timer = window.setTimeout(() => this.#connect(), this.#backoffMs);
      this.#backoffMs = Math.min(this.#backoffMs * 2, 10_000);
    };
  }

  #onMessage(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as {
      id?: number;
      method?: string;
      params?: Record<string, unknown>;
      result?: unknown;
      error?: { code: number; message: string };
    };
    if (typeof m.method === 'string' && m.id === undefined) {
      this.#o.onEvent({
        seq: ++this.#eventSeq,
        at: new Date(),
        name: m.method,
        params: m.params ?? {},
      });
      return;
    }
    if (typeof m.id !== 'number') return;
    const p = this.#pending.get(m.id);
    if (p === undefined) return;
    this.#pending.delete(m.id);
    if (m.error !== undefined) p.reject(new MiCallError(m.error.code, m.error.message));
    else p.resolve(m.result);
  }
}
