// Builds the dashboard (dashboard/src, Preact) into dist/public: one hashed script, one hashed
// stylesheet and index.html naming them. Run by `npm run build` after tsc; the node serves
// the result from memory (src/dashboard.ts). Nothing in it loads from anywhere but the node.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const app = fileURLToPath(new URL('..', import.meta.url));

/** @param {{ outDir?: string }} [options] */
export async function buildDashboard(options = {}) {
  const outDir = options.outDir ?? join(app, 'dist', 'public');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(app, 'dashboard', 'src', 'main.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome111', 'firefox115', 'safari16.4'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: 'app-[hash]',
    assetNames: 'app-[hash]',
    outdir: outDir,
    metafile: true,
    legalComments: 'eof',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  if (js === undefined || css === undefined) throw new Error(`dashboard build: got ${outputs}`);
  const html = readFileSync(join(app, 'dashboard', 'index.html'), 'utf8')
    .replace('%APP_JS%', js)
    .replace('%APP_CSS%', css);
  writeFileSync(join(outDir, 'index.html'), html);
  const files = [...outputs, 'index.html']
    .filter((f) => !f.endsWith('.map'))
    .map((name) => {
      const body = readFileSync(join(outDir, name));
      return { name, bytes: body.length, gzipBytes: gzipSync(body, { level: 9 }).length };
    });
  return { outDir, files };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { outDir, files } = await buildDashboard();
  const total = files.reduce((n, f) => n + f.gzipBytes, 0);
  console.log(
    `dashboard: ${files.map((f) => f.name).join(', ')} in ${outDir}, ${total} bytes gzipped`,
  );
}
