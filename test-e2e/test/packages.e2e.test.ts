/**
 * The packages as published: every public workspace is packed with `npm pack`, the tarballs
 * are installed into an empty folder with no network (src/packages.ts says how), and there
 *  - each tarball holds its LICENSE, its metadata, no tests, and source maps whose sources ship;
 *  - a TypeScript consumer importing every export compiles against the installed declarations
 *    alone (strict, declarations checked: a type from a devDependency fails here);
 *  - each README's first example (the block after `<!-- first-example -->`) runs as written;
 *  - each command runs by name through npx, with --version and --help.
 */

import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanNpmEnv,
  firstExample,
  installConsumer,
  type Packed,
  packAll,
  publicPackages,
  REPO_ROOT,
  run,
} from '../src/packages.js';

const packages = publicPackages();
const dir = mkdtempSync(join(tmpdir(), 'sipedge-packages-'));
const packs = join(dir, 'packs');
const consumer = join(dir, 'consumer');
const tsc = join(REPO_ROOT, 'node_modules', '.bin', 'tsc');
const license = readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8');
/** The consumer's commands on the PATH, as after `npm install -g` or inside `npm exec`. */
const consumerEnv = cleanNpmEnv({
  PATH: `${join(consumer, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}`,
});
/** The file a package's first example is written to (TypeScript) and its compiled form. */
const exampleName = (pkgDir: string): string => pkgDir.replace('/', '-');
let packed: Packed[] = [];

afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  mkdirSync(packs);
  mkdirSync(consumer);
  // what gets packed is the built dist/: build it (incremental, quick when up to date)
  const built = await run(tsc, ['-b', ...packages.map((p) => p.dir)], { cwd: REPO_ROOT });
  expect(built.stdout + built.stderr).toBe('');
  packed = await packAll(packages, packs);
  await installConsumer(packages, packed, consumer, '../packs');

  // every TypeScript first example, and one module importing every export of every package
  const examples = join(consumer, 'examples');
  mkdirSync(examples);
  const imports: string[] = [];
  for (const p of packages) {
    for (const sub of Object.keys(p.manifest.exports ?? {})) {
      imports.push(`export * as m${imports.length} from '${p.name}${sub.slice(1)}';`);
    }
    const example = firstExample(readFileSync(join(REPO_ROOT, p.dir, 'README.md'), 'utf8'));
    if (example?.lang === 'ts') {
      writeFileSync(join(examples, `${exampleName(p.dir)}.ts`), example.code);
    }
  }
  writeFileSync(join(examples, 'every-export.ts'), `${imports.join('\n')}\n`);
  const tsconfig = {
    compilerOptions: {
      target: 'es2023',
      lib: ['es2023'],
      module: 'nodenext',
      moduleResolution: 'nodenext',
      types: ['node'],
      strict: true,
      exactOptionalPropertyTypes: true,
      skipLibCheck: false,
      rootDir: '.',
      outDir: 'out',
    },
    include: ['examples'],
  };
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
}, 120_000);

it('compiles a strict consumer of every export with the installed declarations alone', async () => {
  const r = await run(tsc, ['-p', '.'], { cwd: consumer });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.code).toBe(0);
}, 60_000);

describe.each(packages)('$name', ({ dir: pkgDir, name, manifest }) => {
  const installed = (): string => join(consumer, 'node_modules', ...name.split('/'));
  const files = (): string[] =>
    (packed.find((t) => t.name === name)?.files ?? []).map((f) => f.path);

  it('carries the LICENSE and the metadata a registry page shows', () => {
    expect(files()).toContain('LICENSE');
    expect(files()).toContain('README.md');
    expect(readFileSync(join(installed(), 'LICENSE'), 'utf8')).toBe(license);
    expect(manifest).toMatchObject({
      license: 'MIT',
      description: expect.any(String),
      homepage: `https://github.com/sipedge/sipedge/tree/main/${pkgDir}#readme`,
      bugs: { url: 'https://github.com/sipedge/sipedge/issues' },
      repository: {
        type: 'git',
        url: 'git+https://github.com/sipedge/sipedge.git',
        directory: pkgDir,
      },
      engines: { node: expect.stringMatching(/^>=20/) },
      publishConfig: { access: 'public' },
    });
    expect(manifest.keywords?.length).toBeGreaterThan(0);
  });

  it('ships no tests, and every source map names files that ship', () => {
    const shipped = new Set(files());
    expect(files().filter((f) => /\.test\.|(^|\/)(test|bench)\//.test(f))).toEqual([]);
    const unresolved: string[] = [];
    for (const map of files().filter((f) => f.endsWith('.map'))) {
      const { sources } = JSON.parse(readFileSync(join(installed(), map), 'utf8')) as {
        sources: string[];
      };
      for (const source of sources) {
        const path = join(map, '..', source);
        // a map of a file whose source is gone is a stale build: rebuild from clean
        if (!shipped.has(path)) unresolved.push(`${map} → ${source}`);
      }
    }
    expect(unresolved).toEqual([]);
  });

  it("runs the README's first example as written", async () => {
    const example = firstExample(readFileSync(join(REPO_ROOT, pkgDir, 'README.md'), 'utf8'));
    expect(example, `${pkgDir}/README.md has no <!-- first-example --> block`).toBeDefined();
    if (example === undefined) return;
    if (example.lang === 'ts') {
      const r = await run(
        process.execPath,
        [join('out', 'examples', `${exampleName(pkgDir)}.js`)],
        {
          cwd: consumer,
          timeoutMs: 20_000,
        },
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    } else if (example.mode === 'completes') {
      expect(example.lang).toBe('sh');
      const r = await run('bash', ['-euo', 'pipefail', '-c', example.code], {
        cwd: consumer,
        env: consumerEnv,
        timeoutMs: 20_000,
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      // a schema a written file names for editors is where the install put it
      for (const [, schema = ''] of example.code.matchAll(
        /yaml-language-server: \$schema=(\S+)/g,
      )) {
        expect(existsSync(join(consumer, schema)), schema).toBe(true);
      }
    } else {
      expect(example.lang).toBe('sh');
      await untilReady(example.code);
    }
  }, 30_000);
});

/**
 * Run a foreground command, wait for its ready line, check it answers the rtpproxy version
 * query on the control socket the line names, stop it with SIGTERM and expect exit 0.
 */
async function untilReady(code: string): Promise<void> {
  const child = spawn('bash', ['-c', `exec ${code}`], { cwd: consumer, env: consumerEnv });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const ready = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        if (/ ready /.test(line)) resolve(line);
      });
      child.once('exit', (c) => reject(new Error(`exited ${c} before its ready line`)));
    });
    const [, host = '', port = ''] = /control=udp:([\d.]+):(\d+)/.exec(ready) ?? [];
    const socket = createSocket('udp4');
    try {
      const reply = new Promise<string>((resolve) =>
        socket.once('message', (m) => resolve(m.toString())),
      );
      socket.send('c1 V', Number(port), host);
      expect(await reply).toBe('c1 20040107\n');
    } finally {
      socket.close();
    }
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
}

const commands = packages.flatMap((p) => Object.keys(p.manifest.bin ?? {}));

it('has the four commands', () => {
  expect(commands.sort()).toEqual(['cluster-node', 'rtp-cluster', 'sipedge', 'sipedge-rtp-relay']);
});

describe.each(commands)('npx %s', (command) => {
  const version = packages.find((p) => p.manifest.bin?.[command] !== undefined)?.manifest.version;

  it('--version prints "<name> <version>"', async () => {
    // `npx <command>`; --no: the installed command, never the registry
    const r = await run('npx', ['--no', '--', command, '--version'], { cwd: consumer });
    expect(r).toEqual({ code: 0, stdout: `${command} ${version}\n`, stderr: '' });
  });

  it('--help prints the usage', async () => {
    const r = await run('npx', ['--no', '--', command, '--help'], { cwd: consumer });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(new RegExp(`^usage: ${command} `));
  });
});
