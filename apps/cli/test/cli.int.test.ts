import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createMiCore, type MiCore, MiServer } from '@sipedge/mi';
import { until } from '@sipedge/test-utils';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const appDir = join(import.meta.dirname, '..');
const repoRoot = join(appDir, '..', '..');
const bin = join(appDir, 'dist', 'src', 'bin.js');
const TOKEN = 'cli-test-token-0123456789';

let core: MiCore;
let server: MiServer;
let secured: MiServer;

beforeAll(async () => {
  // the tests run the built bin: build it (incremental, quick when up to date)
  await execa('npx', ['tsc', '-b', appDir], { cwd: repoRoot });
  core = createMiCore({ eventSockets: false });
  core.events.register('E_CLI_TEST');
  core.events.register('E_OTHER');
  core.stats.counter('core', 'rcv_requests').inc(12);
  core.stats.gauge('shmem', 'used_size').set(4096);
  const cl = core.status.group('clusterer');
  cl.identifier('node_states').report('Node 2 is up');
  cl.identifier('cap:usrloc-contact-repl', { status: -3, details: 'not synced' });
  server = new MiServer({
    registry: core.registry,
    events: core.events,
    stats: core.stats,
    port: 0,
  });
  await server.start();
  secured = new MiServer({ registry: core.registry, events: core.events, port: 0, token: TOKEN });
  await secured.start();
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await secured?.stop();
});

function sipedge(args: string[], env: Record<string, string> = {}) {
  return execa('node', [bin, ...args], { reject: false, env, extendEnv: false, timeout: 15_000 });
}

describe('sipedge mi', () => {
  it('calls a command and prints a readable table for list-shaped results', async () => {
    const r = await sipedge(['mi', 'sr_list_status', 'clusterer', '--url', server.url]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'Name                     Readiness  Status  Details',
      '-----------------------  ---------  ------  ----------',
      'node_states              true       1       -',
      'cap:usrloc-contact-repl  false      -3      not synced',
    ]);
  });

  it('--json prints the raw result', async () => {
    const r = await sipedge([
      '--json',
      'mi',
      'get_statistics',
      '["core:","shmem:"]',
      '--url',
      server.url,
    ]);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ 'core:rcv_requests': 12, 'shmem:used_size': 4096 });
    // one word with several selectors works as well
    const words = await sipedge([
      'mi',
      'get_statistics',
      'core: shmem:',
      '--json',
      '--url',
      server.url,
    ]);
    expect(JSON.parse(words.stdout)).toEqual({ 'core:rcv_requests': 12, 'shmem:used_size': 4096 });
  });

  it('sends name=value params as named params', async () => {
    const r = await sipedge([
      'mi',
      'sr_get_status',
      'group=clusterer',
      'identifier=all',
      '--json',
      `--url=${server.url}`,
    ]);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ Readiness: false, Status: -1, Details: 'aggregated' });
  });

  it('reads the URL from SIPEDGE_MI_URL and prints key: value for objects', async () => {
    const r = await sipedge(['mi', 'sr_get_status', 'core'], { SIPEDGE_MI_URL: server.url });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('Readiness: true\nStatus:    1\nDetails:   running');
  });

  it('exit 1 and the error on stderr for a command error', async () => {
    const r = await sipedge(['mi', 'sr_get_status', 'nope', '--url', server.url]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe('error 404: Group not found');
    const j = await sipedge(['mi', 'sr_get_status', 'nope', '--json', '--url', server.url]);
    expect(j.exitCode).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({ error: { code: 404, message: 'Group not found' } });
    const p = await sipedge(['mi', 'sr_get_status', '--url', server.url]);
    expect(p.exitCode).toBe(1);
    // what the command expects follows, from its description on the server
    expect(p.stderr.split('\n')).toEqual([
      'error -32602: Invalid params (Too few or too many parameters)',
      'expected:',
      '  sipedge mi sr_get_status <group> [identifier]',
      '     or: sipedge mi sr_get_status group=… identifier=…',
      '    group       (string)',
      '    identifier  (string, optional)',
    ]);
  });

  it("takes opensips-cli's words for a list parameter: get_statistics core: shmem:", async () => {
    const r = await sipedge(['-x', 'mi', 'get_statistics', 'core:', 'shmem:', '--json'], {
      SIPEDGE_MI_URL: server.url,
    });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ 'core:rcv_requests': 12, 'shmem:used_size': 4096 });
  });

  it('an unknown MI command gets the closest names; an unknown subcommand too', async () => {
    const r = await sipedge(['mi', 'sr_get_stauts', 'core', '--url', server.url]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.split('\n')).toEqual([
      'error -32601: Method not found',
      'no MI command sr_get_stauts here; did you mean sr_get_status?',
    ]);
    const sub = await sipedge(['ul_dump', '--url', server.url]);
    expect(sub.exitCode).toBe(2);
    expect(sub.stderr).toMatch(
      /^sipedge: unknown command ul_dump; MI commands go after mi: sipedge mi ul_dump\n/,
    );
    expect((await sipedge(['evnets'])).stderr).toMatch(/did you mean events\?/);
  });

  it('exit 2 for usage errors', async () => {
    const mixed = await sipedge(['mi', 'sr_get_status', 'group=core', 'main', '--url', server.url]);
    expect(mixed.exitCode).toBe(2);
    expect(mixed.stderr).toMatch(/mix of positional and name=value/);
    expect((await sipedge(['mi'])).exitCode).toBe(2);
    expect((await sipedge(['frobnicate'])).exitCode).toBe(2);
    expect((await sipedge(['mi', 'which', '--bogus'])).exitCode).toBe(2);
    expect((await sipedge([])).exitCode).toBe(2);
  });

  it('exit 2 when the server cannot be reached', async () => {
    const dead = new MiServer({ registry: core.registry, port: 0 });
    await dead.start();
    const url = dead.url;
    await dead.stop();
    const r = await sipedge(['mi', 'which', '--url', url]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/cannot reach/);
  });

  it('uses --token for a protected server, and fails with exit 2 without it', async () => {
    const without = await sipedge(['mi', 'which', '--url', secured.url]);
    expect(without.exitCode).toBe(2);
    expect(without.stderr).toMatch(/401/);
    const withToken = await sipedge(['mi', 'which', '--url', secured.url, '--token', TOKEN]);
    expect(withToken.exitCode).toBe(0);
    expect(withToken.stdout.split('\n')).toContain('sr_get_status');
  });

  it('--help prints usage with exit 0', async () => {
    const top = await sipedge(['--help']);
    expect(top.exitCode).toBe(0);
    expect(top.stdout).toMatch(/^usage: sipedge/);
    expect(top.stdout).toMatch(/\n {2}events /);
    const mi = await sipedge(['mi', '--help']);
    expect(mi.exitCode).toBe(0);
    expect(mi.stdout).toMatch(/name=value/);
    expect((await sipedge(['help', 'events'])).stdout).toMatch(/^usage: sipedge events/);
  });
});

describe('sipedge events', () => {
  it('streams events raised after it subscribed, until interrupted', async () => {
    const child = execa('node', [bin, 'events', 'E_CLI_TEST', 'E_OTHER', '--url', server.url], {
      reject: false,
      extendEnv: false,
      timeout: 15_000,
    });
    await waitForLine(child, 'stderr', /subscribed to E_CLI_TEST, E_OTHER/);
    core.events.raise('E_CLI_TEST', { cluster_id: 1, node_id: 2, new_state: 1 });
    await waitForLine(child, 'stdout', /E_CLI_TEST cluster_id=1 node_id=2 new_state=1$/);
    core.events.raise('E_OTHER', { name: 'vip', state: 'active' });
    await waitForLine(child, 'stdout', /E_OTHER name=vip state=active$/);
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(0);
  });

  it('--json --count N prints N notifications and exits 0', async () => {
    const child = execa(
      'node',
      [bin, 'events', 'E_CLI_TEST', '--json', '--count', '2', '--url', server.url],
      {
        reject: false,
        extendEnv: false,
        timeout: 15_000,
      },
    );
    await waitForLine(child, 'stderr', /subscribed/);
    core.events.raise('E_CLI_TEST', { n: 1 });
    core.events.raise('E_CLI_TEST', { n: 2 });
    core.events.raise('E_CLI_TEST', { n: 3 });
    const r = await child;
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n').map((l) => JSON.parse(l))).toEqual([
      { jsonrpc: '2.0', method: 'E_CLI_TEST', params: { n: 1 } },
      { jsonrpc: '2.0', method: 'E_CLI_TEST', params: { n: 2 } },
    ]);
  });

  it('exit 1 for an unknown event', async () => {
    const r = await sipedge(['events', 'E_NOPE', '--url', server.url]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe('error 400: Unknown event');
  });
});

/** Resolves once `stream` prints a line matching `re` (counting output from the call on). */
async function waitForLine(
  child: { stdout: Readable | null; stderr: Readable | null },
  stream: 'stdout' | 'stderr',
  re: RegExp,
): Promise<void> {
  const s = child[stream]!;
  let buf = '';
  const append = (chunk: Buffer): void => {
    buf += chunk.toString();
  };
  s.on('data', append);
  try {
    await until(() => buf.split('\n').some((l) => re.test(l)), {
      what: () => `a line matching ${re} on ${stream}; got ${JSON.stringify(buf)}`,
      wake: (recheck) => {
        s.on('data', recheck);
        return () => s.off('data', recheck);
      },
    });
  } finally {
    s.off('data', append);
  }
}
