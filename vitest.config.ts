// One root vitest config with a project per workspace package. Imports of `@sipedge/*`
// resolve to the package's TypeScript sources, so unit tests need no build; tests that
// spawn a bin use the built `dist/` (the `test` script builds first).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const root = import.meta.dirname;

interface Workspace {
  dir: string;
  name: string;
  exports: Record<string, string>;
}

function workspaces(): Workspace[] {
  const dirs: string[] = [];
  for (const group of ['packages', 'apps']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base)) dirs.push(join(base, entry));
  }
  dirs.push(join(root, 'test-e2e'));
  const found: Workspace[] = [];
  for (const dir of dirs) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
      name: string;
      exports?: Record<string, string | { default?: string }>;
    };
    const exports: Record<string, string> = {};
    for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
      const file = typeof target === 'string' ? target : target.default;
      if (file === undefined) continue;
      // ./dist/src/x.js → ./src/x.ts
      exports[sub] = resolve(dir, file.replace(/^\.\/dist\//, './').replace(/\.js$/, '.ts'));
    }
    found.push({ dir, name: pkg.name, exports });
  }
  return found;
}

const all = workspaces();
const alias = all.flatMap((ws) =>
  Object.entries(ws.exports)
    // longest subpaths first so `@sipedge/x/sim` wins over `@sipedge/x`
    .sort(([a], [b]) => b.length - a.length)
    .map(([sub, file]) => ({
      find: new RegExp(`^${ws.name.replace('/', '\\/')}${sub === '.' ? '' : sub.slice(1)}$`),
      replacement: file,
    })),
);

export default defineConfig({
  resolve: { alias },
  test: {
    pool: 'forks',
    maxWorkers: 2,
    // a focused test fails the run everywhere, not only on CI (scripts/test.mjs fails on skips)
    allowOnly: false,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: all.map((ws) => ({
      extends: true as const,
      test: {
        name: ws.name.replace(/^@sipedge\//, ''),
        root: ws.dir,
        include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      },
    })),
  },
});
