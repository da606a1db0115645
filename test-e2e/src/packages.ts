/**
 * The workspace packages as a user gets them from the registry: packed with `npm pack` and
 * installed from the tarballs into an empty folder, with no network.
 *
 * `npm install --offline <tarballs>` cannot work from the npm cache alone: resolving a range
 * such as `zod@^4.1.12` needs the registry's package document, which `npm ci` never fetches
 * (it installs by the lockfile's versions and integrity hashes). So the consumer gets a
 * lockfile too, made from the monorepo's: the tarballs as `file:` dependencies and, for every
 * third-party package they need, the monorepo lockfile's entry (same version, same integrity).
 * `npm ci --offline` then installs the third-party tarballs from ~/.npm/_cacache, which the
 * root `npm ci` filled. Install scripts are not run: the one native addon (better-sqlite3)
 * takes the binary the root install built, of the same version, instead of compiling SQLite
 * again.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** A workspace package that is published (not `private`). */
export interface PublicPackage {
  /** Directory relative to the repository root, e.g. `packages/rtpp`. */
  readonly dir: string;
  readonly name: string;
  readonly manifest: Manifest;
}

export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  keywords?: string[];
  homepage?: string;
  bugs?: { url?: string };
  repository?: { type?: string; url?: string; directory?: string };
  license?: string;
  engines?: Record<string, string>;
  exports?: Record<string, string | { types?: string; default?: string }>;
  bin?: Record<string, string>;
  files?: string[];
  publishConfig?: { access?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** One tarball as `npm pack --json` describes it. */
export interface Packed {
  readonly name: string;
  readonly version: string;
  readonly filename: string;
  readonly integrity: string;
  readonly files: readonly { path: string }[];
}

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  hasInstallScript?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

interface Lockfile {
  packages: Record<string, LockEntry>;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** The workspaces of the root package.json that are not private, in directory order. */
export function publicPackages(root = REPO_ROOT): PublicPackage[] {
  const found: PublicPackage[] = [];
  const { workspaces } = readJson<{ workspaces: string[] }>(join(root, 'package.json'));
  for (const pattern of workspaces) {
    const dirs = pattern.endsWith('/*')
      ? readdirSync(join(root, pattern.slice(0, -2)))
          .sort()
          .map((d) => `${pattern.slice(0, -2)}/${d}`)
      : [pattern];
    for (const dir of dirs) {
      const file = join(root, dir, 'package.json');
      if (!existsSync(file)) continue;
      const manifest = readJson<Manifest>(file);
      if (manifest.private !== true) found.push({ dir, name: manifest.name, manifest });
    }
  }
  return found;
}

/**
 * Environment for a nested npm: without the `npm_*` variables an outer `npm test` exports
 * (`npm_config_local_prefix` and friends would point the nested npm at the repository).
 */
export function cleanNpmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a program (no shell) and resolve with its exit code and output, whatever the code. */
export function run(
  file: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? cleanNpmEnv(),
        timeout: options.timeoutMs ?? 30_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') reject(err);
        else resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
  });
}

/** `npm pack` every package into `dest` with one npm process. */
export async function packAll(packages: readonly PublicPackage[], dest: string): Promise<Packed[]> {
  const args = ['pack', '--json', '--pack-destination', dest];
  for (const p of packages) args.push('-w', p.dir);
  const r = await run('npm', args, { cwd: REPO_ROOT });
  if (r.code !== 0) throw new Error(`npm pack failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as Packed[];
}

/** The location a package at `loc` is found from, one `node_modules` level up at a time. */
function* lookupDirs(loc: string): Generator<string> {
  let at = loc;
  for (;;) {
    yield at;
    if (at === '') return;
    const up = /^(.*)\/node_modules\/(?:@[^/]+\/)?[^/]+$/.exec(at);
    at = up === null || up[1] === undefined ? '' : up[1];
  }
}

export interface ConsumerProject {
  manifest: { name: string; dependencies: Record<string, string> };
  lockfile: { name: string; lockfileVersion: 3; packages: Record<string, LockEntry> };
}

/**
 * package.json and package-lock.json of a consumer that depends on the tarballs (in
 * `tarballDir`, named relative to the consumer folder as `tarballRef`) and on `@types/node`.
 */
export function consumerProject(
  packages: readonly PublicPackage[],
  packed: readonly Packed[],
  tarballRef: string,
  root = REPO_ROOT,
): ConsumerProject {
  const lock = readJson<Lockfile>(join(root, 'package-lock.json')).packages;
  const rootManifest = readJson<Manifest>(join(root, 'package.json'));
  const workspaceOf = new Map(packages.map((p) => [p.dir, p]));
  const dependencies: Record<string, string> = {};
  const entries: Record<string, LockEntry> = {};

  /** Monorepo lockfile location → the consumer's (a workspace dir becomes its install dir). */
  const consumerLoc = (loc: string): string => {
    for (const p of packages) {
      if (loc.startsWith(`${p.dir}/`)) return `node_modules/${p.name}${loc.slice(p.dir.length)}`;
    }
    return loc;
  };
  const resolve = (from: string, name: string): string | undefined => {
    for (const dir of lookupDirs(from)) {
      const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
      if (lock[candidate] !== undefined) return candidate;
    }
    return undefined;
  };
  const visit = (from: string): void => {
    const entry = lock[from];
    if (entry === undefined) throw new Error(`package-lock.json has no entry ${from}`);
    const optional = new Set(Object.keys(entry.optionalDependencies ?? {}));
    const peers = Object.keys(entry.peerDependencies ?? {}).filter(
      (n) => entry.peerDependenciesMeta?.[n]?.optional !== true,
    );
    const names = [...Object.keys(entry.dependencies ?? {}), ...optional, ...peers];
    for (const name of names) {
      const at = resolve(from, name);
      if (at === undefined) {
        if (optional.has(name)) continue; // not for this platform
        throw new Error(`${from} needs ${name}, which package-lock.json does not hold`);
      }
      const target = lock[at];
      if (target?.link === true) {
        const dir = typeof target.resolved === 'string' ? target.resolved : at;
        if (!workspaceOf.has(dir)) {
          throw new Error(`${from} depends on ${name}, a private workspace that is not published`);
        }
        continue; // a workspace: its own tarball
      }
      const to = consumerLoc(at);
      if (entries[to] !== undefined) continue;
      const { dev: _dev, devOptional: _devOptional, ...copy } = target as LockEntry;
      entries[to] = copy;
      visit(at);
    }
  };

  for (const pkg of packages) {
    const tarball = packed.find((t) => t.name === pkg.name);
    if (tarball === undefined) throw new Error(`${pkg.name} was not packed`);
    const spec = `file:${tarballRef}/${tarball.filename}`;
    dependencies[pkg.name] = spec;
    const { devDependencies: _dev, name: _name, ...entry } = lock[pkg.dir] ?? {};
    entries[`node_modules/${pkg.name}`] = {
      ...entry,
      resolved: spec,
      integrity: tarball.integrity,
    };
    visit(pkg.dir);
  }
  // a TypeScript consumer brings its own Node.js types, as the monorepo root does
  const typesNode = rootManifest.devDependencies?.['@types/node'];
  if (typesNode === undefined) throw new Error('the root package.json has no @types/node');
  dependencies['@types/node'] = typesNode;
  if (entries['node_modules/@types/node'] === undefined) {
    const { dev: _dev, ...copy } = lock['node_modules/@types/node'] ?? {};
    entries['node_modules/@types/node'] = copy;
    visit('node_modules/@types/node');
  }

  const name = 'sipedge-consumer';
  const manifest = { name, version: '1.0.0', private: true, type: 'module', dependencies };
  const lockfile = {
    name,
    version: '1.0.0',
    lockfileVersion: 3 as const,
    requires: true,
    packages: { '': { name, version: '1.0.0', dependencies }, ...entries },
  };
  return { manifest, lockfile };
}

/**
 * Install the tarballs into `consumer` (an empty folder beside `tarballDir`) with no network,
 * then give the native addons their binaries (see the top of this file).
 */
export async function installConsumer(
  packages: readonly PublicPackage[],
  packed: readonly Packed[],
  consumer: string,
  tarballRef: string,
): Promise<void> {
  const { manifest, lockfile } = consumerProject(packages, packed, tarballRef);
  writeFileSync(join(consumer, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(consumer, 'package-lock.json'), `${JSON.stringify(lockfile, null, 2)}\n`);
  const r = await run(
    'npm',
    ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: consumer, timeoutMs: 60_000 },
  );
  if (r.code !== 0) {
    throw new Error(
      `npm ci --offline of the tarballs failed (${r.code}); a package missing from the npm ` +
        `cache means the root was not installed with npm ci:\n${r.stderr}`,
    );
  }
  for (const [loc, entry] of Object.entries(lockfile.packages)) {
    if (entry.hasInstallScript !== true) continue;
    if (loc !== 'node_modules/better-sqlite3') {
      throw new Error(`${loc} has an install script and no offline build here`);
    }
    symlinkSync(
      join(REPO_ROOT, 'node_modules', 'better-sqlite3', 'build'),
      join(consumer, loc, 'build'),
    );
  }
}

/** A README's first example: the fenced block after a `<!-- first-example… -->` comment. */
export interface FirstExample {
  /** The fence's language: `ts` (compiled and run with node) or `sh` (run with bash). */
  readonly lang: string;
  /**
   * `completes` (the default): runs to its end and exits 0. `until-ready`: one command that
   * stays in the foreground, prints a line with ` ready ` on stdout and exits 0 on SIGTERM.
   */
  readonly mode: 'completes' | 'until-ready';
  readonly code: string;
}

export function firstExample(readme: string): FirstExample | undefined {
  const m = /^<!-- first-example(?::\s*([\w-]+))? -->\n```(\w+)\n([\s\S]*?)^```$/m.exec(readme);
  if (m === null) return undefined;
  const [, mode = 'completes', lang = '', code = ''] = m;
  if (mode !== 'completes' && mode !== 'until-ready') {
    throw new Error(`unknown first-example mode "${mode}"`);
  }
  return { lang, mode, code };
}
