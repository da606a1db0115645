/**
 * The dashboard's built files (`dist/public`, written by scripts/build-dashboard.mjs), held in
 * memory and served on the MI listener through its pages hook. A request names a file exactly
 * as it was listed at start, so no path ever reaches the file system: `..`, encoded or not,
 * is simply a name that is not in the table (404).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { MiPages } from '@sipedge/mi';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Scripts and styles from this origin only, WebSocket to it, nothing framed, nothing sent
 * elsewhere: the page cannot be made to load or post anything from outside.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** One file, ready to send. */
export interface DashboardAsset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly etag: string;
  /** Named by content hash (`app-XXXXXXXX.js`): cached for a year, never revalidated. */
  readonly immutable: boolean;
}

/**
 * The assets of a built dashboard by file name, or undefined when `dir` holds none. The page
 * learns the MI WebSocket path from `index.html`, where `%MI_WS_PATH%` becomes `wsPath`.
 */
export function loadDashboard(
  dir: string,
  wsPath: string,
): ReadonlyMap<string, DashboardAsset> | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const assets = new Map<string, DashboardAsset>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const type = TYPES[extname(entry.name)];
    if (!entry.isFile() || type === undefined) continue;
    let body = readFileSync(join(dir, entry.name));
    if (entry.name === 'index.html') {
      body = Buffer.from(body.toString('utf8').replace('%MI_WS_PATH%', wsPath), 'utf8');
    }
    assets.set(entry.name, {
      type,
      body,
      gzip: gzipSync(body, { level: 9 }),
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      immutable: /-[A-Z0-9]{8}\.\w+$/.test(entry.name),
    });
  }
  return assets;
}

/** Serves `assets` under `path` (`/` or `/dashboard`): the index at the path itself. */
export function dashboardPages(assets: ReadonlyMap<string, DashboardAsset>, path: string): MiPages {
  const base = path.replace(/\/+$/, '');
  return {
    path,
    serve(req, res, pathname) {
      const rest = pathname.slice(base.length);
      if (rest === '') {
        // relative asset names resolve under the path only with its trailing slash
        res.writeHead(308, { Location: `${base}/`, 'Content-Length': '0' });
        res.end();
        return;
      }
      const name = rest === '/' ? 'index.html' : rest.slice(1);
      const asset = assets.get(name);
      if (asset === undefined) {
        res.writeHead(404, { 'Content-Length': '0' });
        res.end();
        return;
      }
      send(req, res, asset);
    },
  };
}

function send(req: http.IncomingMessage, res: http.ServerResponse, asset: DashboardAsset): void {
  const headers: http.OutgoingHttpHeaders = {
    'Content-Type': asset.type,
    ETag: asset.etag,
    'Cache-Control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    Vary: 'Accept-Encoding',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  };
  if (asset.type.startsWith('text/html')) {
    headers['Content-Security-Policy'] = CSP;
    headers['X-Frame-Options'] = 'DENY';
  }
  if (req.headers['if-none-match'] === asset.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = gzip ? asset.gzip : asset.body;
  if (gzip) headers['Content-Encoding'] = 'gzip';
  headers['Content-Length'] = String(body.length);
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}
