#!/usr/bin/env node
/**
 * Builds and runs the two-site example in the foreground: a Redis Cluster of six redis-server
 * instances (127.0.0.1:7001–7006, three masters and three replicas, data in a temp dir), one
 * sipedge-rtp-relay per site (udp:127.0.0.1:22231 for paris, :22232 for lyon), then the two
 * nodes of each site (a1/a2.yaml: paris, b1/b2.yaml: lyon). Logs come through prefixed with the
 * process name. Once each site has its vip holder and both writers say the federation is not
 * degraded (at most 30 s), it prints the "try it" steps.
 * SIGINT, SIGTERM and SIGHUP stop every process it started, by pid (SIGTERM, SIGKILL 5 s
 * later), Redis last, and remove Redis's temp dir. Needs redis-server and redis-cli
 * (`npm run peers` installs them).
 *
 *   node examples/two-sites/start.mjs [--no-build]
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const relayBin = `${root}apps/rtp-relay/dist/src/bin.js`;
const nodeBin = `${root}apps/cluster-node/dist/src/bin.js`;
const exitWithParent = new URL('exit-with-parent.mjs', import.meta.url).href;
const REDIS_PORTS = [7001, 7002, 7003, 7004, 7005, 7006];
const NODES = [
  { name: 'paris1', file: 'a1.yaml', mi: 8871 },
  { name: 'paris2', file: 'a2.yaml', mi: 8872 },
  { name: 'lyon1', file: 'b1.yaml', mi: 8891 },
  { name: 'lyon2', file: 'b2.yaml', mi: 8892 },
];

for (const bin of ['/usr/bin/redis-server', '/usr/bin/redis-cli']) {
  if (!existsSync(bin)) {
    process.stderr.write(`${bin} is missing: apt-get install redis-server redis-tools\n`);
    process.exit(1);
  }
}
if (!process.argv.includes('--no-build')) {
  process.stdout.write('building apps/cluster-node, apps/rtp-relay and apps/cli…\n');
  execFileSync('npx', ['tsc', '-b', 'apps/cluster-node', 'apps/cli'], {
    cwd: root,
    stdio: 'inherit',
  });
}

const tty = process.stdout.isTTY === true;
const childEnv = tty ? { ...process.env, SIPEDGE_LOGGING__FORMAT: 'pretty' } : process.env;
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

/** @type {Array<{ name: string, child: import('node:child_process').ChildProcess }>} */
const children = [];
const redisDir = mkdtempSync(join(tmpdir(), 'sipedge-two-sites-redis-'));
let stopping = false;

function start(name, cmd, args, ready) {
  return new Promise((resolve, reject) => {
    const node = cmd === process.execPath;
    const child = spawn(cmd, node ? ['--import', exitWithParent, ...args] : args, {
      cwd: here,
      env: childEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push({ name, child });
    let seen = false;
    const onLine = (chunk) => {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        if (!name.startsWith('redis')) process.stdout.write(`[${name}] ${line}\n`);
        if (!seen && ready.test(line)) {
          seen = true;
          resolve();
        }
      }
    };
    child.stdout.on('data', onLine);
    child.stderr.on('data', onLine);
    child.once('exit', (code) => {
      if (!seen) reject(new Error(`${name} exited (${code}) before it was ready`));
      else if (!stopping) process.stdout.write(`[${name}] exited with ${code}\n`);
    });
    setTimeout(() => {
      if (!seen) reject(new Error(`${name} not ready within 15 s`));
    }, 15_000).unref();
  });
}

async function stopAll() {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nstopping…\n');
  // nodes and relays first (started last), Redis after them
  for (const { child } of children.reverse()) {
    await new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  }
  rmSync(redisDir, { recursive: true, force: true });
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, stopAll);

const cli = (port, ...args) =>
  execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    encoding: 'utf8',
  });

async function mi(port, method) {
  const res = await fetch(`http://127.0.0.1:${port}/mi`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method, id: 1 }),
    signal: AbortSignal.timeout(2000),
  });
  const reply = await res.json();
  if (reply.error !== undefined) throw new Error(`${method}: ${reply.error.message}`);
  return reply.result;
}

/** Polls `check` every 250 ms until it is true or `ms` have gone; says whether it got there. */
async function waitFor(check, ms) {
  const started = Date.now();
  while (Date.now() - started < ms && !stopping) {
    if (await check().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

try {
  for (const port of REDIS_PORTS) {
    const dir = join(redisDir, String(port));
    mkdirSync(dir);
    await start(
      `redis${port}`,
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--cluster-enabled',
        'yes',
        '--dir',
        dir,
        '--cluster-config-file',
        join(dir, 'nodes.conf'),
        '--cluster-node-timeout',
        '2000',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      /Ready to accept connections/,
    );
  }
  execFileSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...REDIS_PORTS.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ],
    { stdio: 'ignore' },
  );
  const ok = await waitFor(
    async () => cli(7001, 'cluster', 'info').includes('cluster_state:ok'),
    20_000,
  );
  if (!ok) throw new Error('the Redis Cluster did not reach cluster_state:ok within 20 s');
  process.stdout.write('[redis] cluster of 3 masters + 3 replicas on 127.0.0.1:7001-7006\n');
  await start(
    'relay-paris',
    process.execPath,
    [relayBin, '-s', 'udp:127.0.0.1:22231', '-m', '35000', '-M', '37499'],
    /ready/,
  );
  await start(
    'relay-lyon',
    process.execPath,
    [relayBin, '-s', 'udp:127.0.0.1:22232', '-m', '37500', '-M', '39999'],
    /ready/,
  );
  for (const n of NODES) {
    await start(n.name, process.execPath, [nodeBin, '--config', n.file], /ready pid=/);
  }
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  await stopAll();
}

const settled = await waitFor(async () => {
  const writers = await Promise.all(NODES.map((n) => mi(n.mi, 'ul_federation_status')));
  return writers.filter((s) => s.writer && !s.degraded).length === 2;
}, 30_000);
if (stopping) await new Promise(() => {});

process.stdout.write(`
two sites running (Ctrl-C stops them)${settled ? '' : ' — not settled after 30 s: see the logs above'}:
  paris: nodes 127.0.0.1:5071, :5072 (MI :8871, :8872), service address 127.0.0.101:5060, relay udp:127.0.0.1:22231
  lyon:  nodes 127.0.0.1:5081, :5082 (MI :8891, :8892), service address 127.0.0.102:5060, relay udp:127.0.0.1:22232
  Redis Cluster: 127.0.0.1:7001-7006 (presence: one key per AoR, sipedge:fed:<aor>)

try it (another terminal, from the repository root):
  sipp -sf examples/two-sites/sipp-register.xml -s uas -key contact_port 5090 -p 5090 127.0.0.101:5060 -m 1  # uas registers in paris
  redis-cli -c -p 7001 hgetall sipedge:fed:uas                                                             # Redis: paris holds uas
  sipp -sf test-e2e/fixtures/call-uas.xml -key rtp_port 6002 -i 127.0.0.1 -p 5090 -m 1 -bg                 # the callee on :5090
  sipp -sf test-e2e/fixtures/call-uac.xml -key rtp_port 6000 -i 127.0.0.1 127.0.0.102:5060 -m 1            # call uas from lyon
  npx sipedge --url http://127.0.0.1:8891/mi mi ul_federation_status                                       # lyon's view
`);
