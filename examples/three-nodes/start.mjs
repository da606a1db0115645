#!/usr/bin/env node
/**
 * Builds and runs the three-node example in the foreground: two sipedge-rtp-relay processes on
 * udp:127.0.0.1:22221 and :22222, then cluster-node 1–3 from node1.yaml … node3.yaml. Their logs
 * come through prefixed with the process name: one coloured line per event on a terminal, JSON
 * lines otherwise. Once the cluster has settled (one node active for vip/1, every link up, every
 * node synced, every relay online; at most 30 s) it prints a status table and, last, the "try it"
 * steps.
 * SIGINT (Ctrl-C), SIGTERM and SIGHUP stop every process it started, by pid: SIGTERM to each,
 * SIGKILL to any still running 5 s later; it exits once all are gone. If start.mjs itself is
 * killed outright, its children are meant to see their stdin close and stop themselves
 * (exit-with-parent.mjs); best effort: in about one run of five a cluster-node stays, not yet
 * understood, so that case has no test.
 * The root `npm start` `exec`s this file, so npm's signals reach it: npm forwards SIGINT and
 * SIGTERM to its script's process, and a shell there would die of them without passing them on.
 *
 *   node examples/three-nodes/start.mjs [--no-build]
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const relayBin = `${root}apps/rtp-relay/dist/src/bin.js`;
const nodeBin = `${root}apps/cluster-node/dist/src/bin.js`;
const exitWithParent = new URL('exit-with-parent.mjs', import.meta.url).href;

if (!process.argv.includes('--no-build')) {
  process.stdout.write('building apps/cluster-node, apps/rtp-relay and apps/cli…\n');
  execFileSync('npx', ['tsc', '-b', 'apps/cluster-node', 'apps/cli'], {
    cwd: root,
    stdio: 'inherit',
  });
}

// readable logs for a person at a terminal, JSON lines for a pipe (a test, a log collector)
const tty = process.stdout.isTTY === true;
const childEnv = tty
  ? {
      ...process.env,
      SIPEDGE_LOGGING__FORMAT: 'pretty',
      FORCE_COLOR: '1',
    }
  : process.env;
const relayLogs = ['--log-format', tty ? 'pretty' : 'json'];

// after a closed terminal or a gone reader writes fail; that must not stop the stopping
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

/** @type {Array<{ name: string, child: import('node:child_process').ChildProcess }>} */
const children = [];
let stopping = false;

function start(name, args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', exitWithParent, ...args], {
      cwd: here,
      env: childEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push({ name, child });
    let seen = false;
    const onLine = (chunk) => {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        process.stdout.write(`[${name}] ${line}\n`);
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
  await Promise.all(
    children.reverse().map(
      ({ child }) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', resolve);
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        }),
    ),
  );
  process.exit(0);
}
// `on`, not `once`: a second Ctrl-C while stopping must not kill start.mjs before its children
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, stopAll);

try {
  await start(
    'relay1',
    [relayBin, '-s', 'udp:127.0.0.1:22221', '-m', '35000', '-M', '39999', ...relayLogs],
    /ready/,
  );
  await start(
    'relay2',
    [relayBin, '-s', 'udp:127.0.0.1:22222', '-m', '40000', '-M', '44999', ...relayLogs],
    /ready/,
  );
  for (const n of [1, 2, 3]) {
    await start(`node${n}`, [nodeBin, '--config', `node${n}.yaml`], /ready pid=/);
  }
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  await stopAll();
}

/** One MI call to node `n` (JSON-RPC over HTTP); rejects on an error reply. */
async function mi(n, method) {
  const res = await fetch(`http://127.0.0.1:888${n}/mi`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method, id: 1 }),
    signal: AbortSignal.timeout(2000),
  });
  const reply = await res.json();
  if (reply.error !== undefined) throw new Error(`${method}: ${reply.error.message}`);
  return reply.result;
}

/** What each node says of itself, its links and its relays; undefined while one does not answer. */
async function status() {
  try {
    return await Promise.all(
      [1, 2, 3].map(async (n) => {
        const [info, links, rtp] = await Promise.all([
          mi(n, 'node_info'),
          mi(n, 'clusterer_list'),
          mi(n, 'rtp_cluster_list'),
        ]);
        return {
          n,
          tag: info.ha_state ?? '-',
          synced: info.usrloc_synced === true,
          links: links.Clusters.flatMap((c) => c.Nodes).map((l) => [l.node_id, l.link_state]),
          relays: rtp.Clusters.flatMap((c) => c.members).map((m) => [m.name, m.state]),
        };
      }),
    );
  } catch {
    return undefined;
  }
}

function settled(nodes) {
  return (
    nodes !== undefined &&
    nodes.filter((s) => s.tag === 'active').length === 1 &&
    nodes.every(
      (s) =>
        s.synced &&
        s.links.length === 2 &&
        s.links.every(([, state]) => state === 'Up') &&
        s.relays.every(([, state]) => state === 'online'),
    )
  );
}

/** Asks the nodes every 250 ms until they agree the cluster is whole, or 30 s have gone. */
async function waitSettled() {
  const started = Date.now();
  let nodes = await status();
  while (!settled(nodes) && Date.now() - started < 30_000 && !stopping) {
    await new Promise((r) => setTimeout(r, 250));
    nodes = await status();
  }
  return { nodes, seconds: (Date.now() - started) / 1000, ok: settled(nodes) };
}

function statusTable({ nodes, seconds, ok }) {
  const head = ok
    ? `status (settled in ${seconds.toFixed(1)} s):`
    : `status after ${seconds.toFixed(0)} s (not settled yet: see the logs above):`;
  if (nodes === undefined) return `${head}\n  a node does not answer MI\n`;
  const rows = [
    ['node', 'vip/1', 'usrloc', 'links', 'relays'],
    ...nodes.map((s) => [
      `node${s.n}`,
      s.tag,
      s.synced ? 'synced' : 'not synced',
      s.links.map(([id, state]) => `${id} ${state}`).join(', '),
      s.relays.map(([name, state]) => `${name} ${state}`).join(', '),
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map(
    (r) =>
      `  ${r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd()}`,
  );
  return `${head}\n${lines.join('\n')}\n`;
}

const settledStatus = await waitSettled();
if (stopping) await new Promise(() => {});

process.stdout.write(`
three-node cluster running (Ctrl-C stops it):
  node N (1-3): SIP udp/tcp 127.0.0.1:506N   MI http://127.0.0.1:888N/mi   BIN 127.0.0.1:556N   metrics http://127.0.0.1:909N/metrics
  service address: udp/tcp 127.0.0.100:5060 (sharing tag vip/1, active on node 1; it moves if node 1 dies)
  relays: udp:127.0.0.1:22221, udp:127.0.0.1:22222 (each node's embedded rtp-cluster balances them)

${statusTable(settledStatus)}
try it (another terminal, from the repository root):
  sipp -sn uas -i 127.0.0.1 -p 5090 -m 1 -bg                                                           # a callee on :5090
  sipp -sf examples/three-nodes/sipp-register.xml -s bob -key contact_port 5090 127.0.0.100:5060 -m 1  # register bob -> :5090
  sipp -sn uac -s bob 127.0.0.100:5060 -m 1                                                            # call bob through the cluster
  npx sipedge --node 2 mi ul_dump                       # bob, replicated to node 2
  npx sipedge --node 1 mi clusterer_list_shtags         # who holds the service address
  npx sipedge --node 1 mi rtp_cluster_list              # the relays and their load
  npx sipedge --node 1 mi get_statistics sip: usrloc:   # counters (Prometheus: :9091/metrics)
`);
