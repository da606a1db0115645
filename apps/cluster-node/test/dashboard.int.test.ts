/**
 * The dashboard as the node ships and serves it: the bundle built from dashboard/src stays under
 * 150 KB gzipped, and the MI listener serves it with the right types, caching and headers,
 * nothing outside the built files (no traversal), and not at all with `mi.dashboard: false`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createMiCore, MiServer } from '@sipedge/mi';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard, type DashboardFile } from '../scripts/build-dashboard.mjs';
import { parseNodeConfig } from '../src/config.js';
import { dashboardPages, loadDashboard } from '../src/dashboard.js';
import { dashboardOptions } from '../src/wiring/management.js';

const MAX_GZIPPED = 150 * 1024;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A raw GET (the path is sent as written, so `..` and `%2e` reach the server). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const minimal = (mi: Record<string, unknown> = {}) =>
  parseNodeConfig({ node: { id: 1 }, clusterer: { listen: 'bin:127.0.0.1:5561' }, mi });

describe('dashboard', () => {
  let dir = '';
  let files: DashboardFile[] = [];
  let server: MiServer;
  let port = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sipedge-dashboard-'));
    ({ files } = await buildDashboard({ outDir: dir }));
    const assets = loadDashboard(dir, '/mi/ws');
    if (assets === undefined) throw new Error('no index.html built');
    const core = createMiCore();
    server = new MiServer({ registry: core.registry, port: 0, pages: dashboardPages(assets, '/') });
    port = (await server.start()).port;
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds a bundle under 150 KB gzipped: an index, one script, one stylesheet', () => {
    const gzipped = files.reduce((n, f) => n + f.gzipBytes, 0);
    console.log(`dashboard bundle: ${gzipped} bytes gzipped (${files.map((f) => f.name)})`);
    expect(gzipped).toBeLessThan(MAX_GZIPPED);
    expect(files.map((f) => f.name.replace(/-[A-Z0-9]{8}\./, '-HASH.')).sort()).toEqual([
      'app-HASH.css',
      'app-HASH.js',
      'index.html',
    ]);
  });

  it('serves the index at / with a CSP, and the hashed files as immutable', async () => {
    const index = await get(port, '/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    const html = index.body.toString('utf8');
    expect(html).toContain('data-mi-ws="/mi/ws"');
    // nothing is loaded from elsewhere
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const js = files.find((f) => f.name.endsWith('.js'))!.name;
    const css = files.find((f) => f.name.endsWith('.css'))!.name;
    expect(html).toContain(`src="${js}"`);
    const script = await get(port, `/${js}`);
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await get(port, `/${css}`)).headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it('answers gzip when asked, 304 for a known ETag, and HEAD without a body', async () => {
    const plain = await get(port, '/');
    const zipped = await get(port, '/', { 'Accept-Encoding': 'gzip, br' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
    const again = await get(port, '/', { 'If-None-Match': String(plain.headers.etag) });
    expect([again.status, again.body.length]).toEqual([304, 0]);
    const head = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http
        .request({ host: '127.0.0.1', port, path: '/', method: 'HEAD', agent: false }, resolve)
        .on('error', reject)
        .end(),
    );
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(plain.body.length));
  });

  it('serves nothing but the built files: traversal and unknown paths are 404', async () => {
    for (const path of [
      '/../package.json',
      '/..%2fpackage.json',
      '/%2e%2e/%2e%2e/package.json',
      '/./index.html',
      '//etc/passwd',
      '/index.html/',
      '/app.js',
      '/missing.css',
      '/.tsbuildinfo',
    ]) {
      expect((await get(port, path)).status, path).toBe(404);
    }
    // the MI stays the MI: a GET there is its 405, not a page
    expect((await get(port, '/mi')).status).toBe(405);
  });

  it('serves under mi.dashboard_path, redirecting the bare path to its directory', async () => {
    const assets = loadDashboard(dir, '/mi/ws')!;
    await using under = new MiServer({
      registry: createMiCore().registry,
      port: 0,
      pages: dashboardPages(assets, '/ops/'),
    });
    const p = (await under.start()).port;
    const bare = await get(p, '/ops');
    expect([bare.status, bare.headers.location]).toEqual([308, '/ops/']);
    expect((await get(p, '/ops/')).status).toBe(200);
    expect((await get(p, '/')).status).toBe(404);
  });

  it('is off with mi.dashboard: false, when not built, and inside the MI root', () => {
    const logger = pino({ level: 'silent' });
    expect(dashboardOptions(minimal(), dir, logger).pages).toBeDefined();
    expect(dashboardOptions(minimal({ dashboard: false }), dir, logger).pages).toBeUndefined();
    expect(dashboardOptions(minimal(), join(dir, 'nothing'), logger).pages).toBeUndefined();
    expect(() => minimal({ dashboard_path: '/mi/dash' })).toThrow(/outside the MI root/);
  });
});
