#!/usr/bin/env node
// The sipedge demo (root `npm start`, after `turbo run build`): two sipedge-rtp-relay media
// relays behind the rtp-cluster balancer, all on loopback, in the foreground. It prints how to
// talk to them and stops everything on Ctrl-C. (The cluster-node daemon will take this over.)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const RELAY = here('../apps/rtp-relay/dist/src/bin.js');
const CLUSTER = here('../apps/rtp-cluster/dist/src/bin.js');
const CLI = here('../apps/cli/dist/src/bin.js');
for (const bin of [RELAY, CLUSTER, CLI]) {
  if (!existsSync(bin)) {
    console.error(`demo: ${bin} is missing; build first (npm start builds, or npx tsc -b)`);
    process.exit(1);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'sipedge-demo-'));
const BALANCER = 22222;
const MI = 8890;
const relays = [
  { name: 'relay1', port: 22221, media: [35000, 35999] },
  { name: 'relay2', port: 22223, media: [36000, 36999] },
];
const admin = join(dir, 'rtp_cluster.sock');
writeFileSync(
  join(dir, 'rtp_cluster.xml'),
  `<?xml version="1.0"?>
<rtp_cluster_config>
  <rtp_cluster>
    <name>demo</name>
    <protocol>udp</protocol>
    <address>127.0.0.1:${BALANCER}</address>
${relays
  .map(
    (r) => `    <rtpproxy>
      <name>${r.name}</name> <protocol>udp</protocol> <address>127.0.0.1:${r.port}</address>
      <weight>100</weight> <capacity>1000</capacity> <status>ACTIVE</status>
    </rtpproxy>`,
  )
  .join('\n')}
  </rtp_cluster>
</rtp_cluster_config>
`,
);

const children = [];
let stopping = false;

/** Starts a Node bin; resolves when `ready` appears on its stdout. */
function start(name, bin, args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 15 s`)), 15_000);
    child.stdout.on('data', (d) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!stopping) {
        console.error(`demo: ${name} exited (${signal ?? code}); is port ${args.join(' ')} free?`);
        stop(1);
      }
      reject(new Error(`${name} exited`));
    });
  });
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }
  const force = setTimeout(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }, 5000);
  force.unref();
  Promise.all(
    children.map((c) =>
      c.exitCode !== null || c.signalCode !== null
        ? Promise.resolve()
        : new Promise((r) => c.once('exit', r)),
    ),
  ).then(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  });
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

try {
  for (const r of relays) {
    await start(
      r.name,
      RELAY,
      ['-s', `udp:127.0.0.1:${r.port}`, '-m', String(r.media[0]), '-M', String(r.media[1])],
      /sipedge-rtp-relay ready/,
    );
  }
  await start(
    'rtp-cluster',
    CLUSTER,
    [
      '-f',
      '-c',
      join(dir, 'rtp_cluster.xml'),
      '-s',
      admin,
      '-P',
      join(dir, 'rtp_cluster.pid'),
      '--state-db',
      join(dir, 'calls.sqlite'),
      '--mi',
      `127.0.0.1:${MI}`,
    ],
    /rtp-cluster: ready/,
  );
} catch (err) {
  console.error(`demo: ${err.message}`);
  stop(1);
}

console.log(`
sipedge demo: an rtp-cluster balancer on udp:127.0.0.1:${BALANCER} in front of two
sipedge-rtp-relay media relays (udp:127.0.0.1:22221 and :22223). Point Kamailio's or OpenSIPS's
rtpproxy module at udp:127.0.0.1:${BALANCER}, or try, in another terminal:

  printf 'c1 V' | nc -u -w1 127.0.0.1 ${BALANCER}                          # -> c1 20040107
  printf 'c2 U call1 127.0.0.1 6000 ft;1' | nc -u -w1 127.0.0.1 ${BALANCER} # -> c2 <port> 127.0.0.1
  printf 'c3 I' | nc -u -w1 127.0.0.1 ${BALANCER}                          # sessions over both relays
  node ${CLI} rtp-cluster --socket ${admin} ls demo
  node ${CLI} rtp-cluster --socket ${admin} modify demo pause relay1
  node ${CLI} mi --url http://127.0.0.1:${MI}/mi rtp_cluster_list

Logs follow as JSON lines. Press Ctrl-C to stop everything.
`);
