/**
 * The processes the rtp benches put on the path: sippy rtpproxy members, the standalone
 * rtp-cluster daemon as a production start runs it, and a cluster-node balancing over them.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Proc, peerPort, runProcess, until, waitUdpBound } from '@sipedge/test-utils';
import { type Cluster, relaysOnline, startCluster, stopOnExit } from '../src/index.js';
import { ROOT } from '../src/processes.js';

const DAEMON = new URL('apps/rtp-cluster/', ROOT);
const DAEMON_BIN = fileURLToPath(new URL('dist/src/bin.js', DAEMON));

/** The Node flags of the daemon's `#!` line (a production start passes them too). */
function daemonFlags(): string[] {
  const first = readFileSync(new URL('bin/rtp-cluster.js', DAEMON), 'utf8').split('\n', 1)[0] ?? '';
  return first.split(' ').filter((w) => w.startsWith('--'));
}

/**
 * One cluster-node balancing over `members` through its rtp control socket, nothing else
 * (locations in memory, no NAT pings), with every member online.
 */
export async function startBalancerNode(
  members: ReadonlyArray<{ name: string; spec: string }>,
): Promise<Cluster> {
  const cluster = await startCluster({
    nodes: 1,
    proxy: false,
    logLevel: 'warn',
    configure: (c) => {
      c.storage = { file: ':memory:' };
      (c.sip as Record<string, unknown>).nat_ping = { enabled: false };
      c.rtp = {
        relays: members.map((m) => ({ name: m.name, socket: m.spec, weight: 10 })),
        control_socket: 'udp:127.0.0.1:0',
      };
    },
  });
  await relaysOnline(cluster.node(1));
  return cluster;
}

/**
 * The standalone rtp-cluster daemon in front of `members`, started as its `#!` line starts it,
 * with its default SQLite call store next to the pid file.
 */
export async function startDaemon(
  dir: string,
  members: ReadonlyArray<{ name: string; spec: string }>,
): Promise<Proc & { port: number }> {
  const sub = mkdtempSync(join(dir, 'daemon-'));
  const rtpproxies = members
    .map(
      (m) =>
        `<rtpproxy><name>${m.name}</name><protocol>udp</protocol><address>${m.spec.slice(4)}</address><weight>1</weight><capacity>100000</capacity><status>ACTIVE</status></rtpproxy>`,
    )
    .join('');
  writeFileSync(
    join(sub, 'rtp_cluster.xml'),
    `<rtp_cluster_config><rtp_cluster><name>bench</name><protocol>udp</protocol><address>127.0.0.1:0</address>${rtpproxies}</rtp_cluster></rtp_cluster_config>`,
  );
  const p = runProcess(process.execPath, [
    ...daemonFlags(),
    DAEMON_BIN,
    '-f',
    '-c',
    join(sub, 'rtp_cluster.xml'),
    '-s',
    join(sub, 'cli.sock'),
    '-P',
    join(sub, 'rtp_cluster.pid'),
    '--log-level',
    'warn',
  ]);
  stopOnExit(p);
  try {
    const port = await until(
      () => {
        const m = /cluster bench listening on udp:127\.0\.0\.1:(\d+)/.exec(p.output());
        if (m !== null) return Number(m[1]);
        return p.child.exitCode === null ? undefined : 'exited';
      },
      { what: 'rtp-cluster to listen', timeoutMs: 20_000, intervalMs: 50 },
    );
    if (port === 'exited') throw new Error('exited');
    return Object.assign(p, { port });
  } catch (err) {
    await p.stop('SIGKILL');
    throw new Error(`rtp-cluster: ${(err as Error).message}\n${p.output()}`, { cause: err });
  }
}

/** Resolves once every member is online in the daemon (a U gets a port through it). */
export async function daemonReady(port: number): Promise<void> {
  const sock = createSocket('udp4');
  let answer = '';
  sock.on('message', (m: Buffer) => {
    answer = m.toString('latin1');
  });
  await new Promise<void>((r) => sock.connect(port, '127.0.0.1', () => r()));
  let n = 0;
  try {
    await until(
      () => {
        if (/^r\d+ [1-9]/.test(answer)) return true;
        sock.send(`r${++n} U ready-${n} 127.0.0.1 7000 f;1`);
        return false;
      },
      { what: 'the daemon to place a call', timeoutMs: 20_000, intervalMs: 100 },
    );
  } finally {
    sock.close();
  }
}

/** sippy rtpproxy in the foreground on a peerPort(), its control socket bound on return. */
export async function startRtpproxy(
  bin: string,
  dir: string,
  name: string,
  range: readonly [number, number],
): Promise<Proc & { spec: string; port: number }> {
  const port = await peerPort();
  const p = runProcess(bin, [
    '-f',
    '-F',
    '-s',
    `udp:127.0.0.1:${port}`,
    '-l',
    '127.0.0.1',
    '-m',
    String(range[0]),
    '-M',
    String(range[1]),
    '-p',
    join(dir, `${name}.pid`),
    '-d',
    'ERR',
    // sessions a lost command leaves behind (at 64 in flight under load, a thousand within a
    // slice) would exhaust the port range for every later side: they expire in 10 s, not 60
    '-T',
    '10',
  ]);
  stopOnExit(p);
  try {
    await waitUdpBound(port, 20_000);
    return Object.assign(p, { spec: `udp:127.0.0.1:${port}`, port });
  } catch (err) {
    await p.stop('SIGKILL');
    throw new Error(`rtpproxy ${name}: ${(err as Error).message}\n${p.output()}`, { cause: err });
  }
}
