import type http from 'node:http';

/**
 * Pages an MI listener serves beside JSON-RPC (a dashboard): GET and HEAD requests under `path`
 * that are neither the MI root nor the WebSocket path. They pass the MI's origin rules first
 * (and an `Origin` that is the page's own is then allowed on the MI too); they need no token,
 * since a browser cannot send one on a navigation: pages must hold no data, only code that asks
 * for it over the WebSocket, which does need the token.
 */
export interface MiPages {
  /** Path prefix served, `/` for everything outside the MI. */
  readonly path: string;
  /** Answer the request (the method is GET or HEAD). */
  serve(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void;
}
