#!/usr/bin/env node
/**
 * Builds and runs the three-node example in the foreground: two sipedge-rtp-relay processes on
 * udp:127.0.0.1:22221 and :22222, then cluster-node 1–3 from node1.yaml … node3.yaml.
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
  process.stdout.write('building apps/cluster-node and apps/rtp-relay…\n');
  execFileSync('npx', ['tsc', '-b', 'apps/cluster-node'], { cwd: root, stdio: 'inherit' });
}

// after a closed terminal or a gone reader writes fail; that must not stop the stopping
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

/** @type {Array<{ name: string, child: import('node:child_process').ChildProcess }>} */
const children = [];
let stopping = false;

function start(name, args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', exitWithParent, ...args], {
      cwd: here,
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
    [relayBin, '-s', 'udp:127.0.0.1:22221', '-m', '35000', '-M', '39999'],
    /ready/,
  );
  await start(
    'relay2',
    [relayBin, '-s', 'udp:127.0.0.1:22222', '-m', '40000', '-M', '44999'],
    /ready/,
  );
  for (const n of [1, 2, 3]) {
    await start(`node${n}`, [nodeBin, '--config', `node${n}.yaml`], /ready pid=/);
  }
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  await stopAll();
}

process.stdout.write(`
three-node cluster running (Ctrl-C stops it):
  node N (1-3): SIP udp/tcp 127.0.0.1:506N   MI http://127.0.0.1:888N/mi   BIN 127.0.0.1:556N   metrics http://127.0.0.1:909N/metrics
  service address: udp/tcp 127.0.0.100:5060 (sharing tag vip/1, active on node 1; it moves if node 1 dies)
  relays: udp:127.0.0.1:22221, udp:127.0.0.1:22222 (each node's embedded rtp-cluster balances them)

try it (another terminal, from the repository root):
  sipp -sn uas -i 127.0.0.1 -p 5090 -m 1 -bg                                                         # a callee on :5090
  sipp -sf examples/three-nodes/sipp-register.xml -s bob -key contact_port 5090 127.0.0.100:5060 -m 1  # register bob -> :5090
  sipp -sn uac -s bob 127.0.0.100:5060 -m 1                                                          # call bob through the cluster
  curl -s -d '{"jsonrpc":"2.0","method":"ul_dump","id":1}' http://127.0.0.1:8882/mi                  # bob, replicated to node 2
  curl -s -d '{"jsonrpc":"2.0","method":"clusterer_list_shtags","id":1}' http://127.0.0.1:8881/mi
`);
