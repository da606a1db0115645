/**
 * The four commands as `npm ci` installs them: node_modules/.bin links to each app's committed
 * launcher (bin/<name>.js), which runs the built dist/src/bin.js. Each is run by name, without a
 * shell, and answers --version, --help and an unknown flag in the same form.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

/** App directory → the command its package.json names. */
const COMMANDS = [
  { app: 'cluster-node', name: 'cluster-node' },
  { app: 'cli', name: 'sipedge' },
  { app: 'rtp-cluster', name: 'rtp-cluster' },
  { app: 'rtp-relay', name: 'sipedge-rtp-relay' },
] as const;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `file args…` directly (execFile, no shell), resolving with whatever exit code it gives. */
function run(file: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: repoRoot, timeout: 15_000 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') reject(err);
      else resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sipedge-bins-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  // the launchers run the built bins: build them (incremental, quick when up to date)
  const apps = COMMANDS.map((c) => join(repoRoot, 'apps', c.app));
  await execa('npx', ['tsc', '-b', ...apps], { cwd: repoRoot });
}, 180_000);

describe.each(COMMANDS)('$name', ({ app, name }) => {
  const launcher = join(repoRoot, 'apps', app, 'bin', `${name}.js`);
  const linked = join(repoRoot, 'node_modules', '.bin', name);

  it('is linked in node_modules/.bin to its executable launcher', () => {
    expect(realpathSync(linked)).toBe(realpathSync(launcher));
    expect(statSync(launcher).mode & 0o111).toBe(0o111);
  });

  it('--version prints "<name> <version>" on stdout and exits 0', async () => {
    const r = await run(linked, ['--version']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(new RegExp(`^${name} \\d+\\.\\d+\\.\\d+\\n$`));
  });

  it('--help prints the usage on stdout and exits 0', async () => {
    const r = await run(linked, ['--help']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(new RegExp(`^usage: ${name} `));
  });

  it('an unknown flag prints the usage on stderr and exits 2', async () => {
    const r = await run(linked, ['--no-such-flag']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/no-such-flag/);
    expect(r.stderr).toMatch(new RegExp(`\\nusage: ${name} `));
  });

  it('says in one line how to build when dist/ is missing', async () => {
    const bare = join(dir, app, 'bin');
    mkdirSync(bare, { recursive: true });
    copyFileSync(launcher, join(bare, `${name}.js`));
    const r = await run(process.execPath, [join(bare, `${name}.js`), '--version']);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `${name}: not built; run "npm run build" at the repository root\n`,
    });
  });
});
