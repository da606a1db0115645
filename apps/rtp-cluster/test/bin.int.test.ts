import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@sipedge/test-utils';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { DAEMON_NODE_FLAGS } from '../src/options.js';
import { DAEMON_BIN } from './processes.js';

/** The committed `rtp-cluster` command that package.json's bin names. */
const LAUNCHER = join(import.meta.dirname, '../bin/rtp-cluster.js');

const dir = mkdtempSync(join(tmpdir(), 'rtpc-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (args: string[]) =>
  execa('node', [DAEMON_BIN, ...args], { reject: false, timeout: 15_000 });
const fixture = join(
  import.meta.dirname,
  '../../../packages/rtp-cluster/test/fixtures/rtp_cluster.xml',
);

describe('rtp-cluster command line', () => {
  it('-d checks the configuration and exits 0 without starting anything', async () => {
    const r = await run(['-d', '-c', fixture]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(
      `rtp-cluster: ${fixture}: 2 clusters and 4 RTP proxies, configuration OK`,
    );
  });

  it('reads the same configuration as YAML', async () => {
    const yaml = join(dir, 'c.yaml');
    writeFileSync(
      yaml,
      'clusters:\n  - name: media\n    protocol: udp\n    address: 127.0.0.1:22222\n    rtpproxies:\n      - { name: r1, protocol: udp, address: "127.0.0.1:22221", weight: 1, capacity: 10, status: ACTIVE }\n',
    );
    const r = await run(['-d', '-c', yaml]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/1 clusters and 1 RTP proxies/);
  });

  it('refuses a bad configuration with exit 2, naming the element', async () => {
    const bad = join(dir, 'bad.xml');
    writeFileSync(
      bad,
      '<rtp_cluster_config><rtp_cluster><name>c</name><protocol>udp</protocol><address>127.0.0.1:1</address><rtpproxy><name>m</name><protocol>udp</protocol><address>127.0.0.1:2</address><weight>-1</weight><capacity>1</capacity><status>ACTIVE</status></rtpproxy></rtp_cluster></rtp_cluster_config>',
    );
    const r = await run(['-d', '-c', bad]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/rtp_cluster "c" › rtpproxy "m" › weight: must be > 0/);
    const missing = await run(['-d', '-c', join(dir, 'nope.xml')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/nope\.xml: ENOENT/);
  });

  it('exits 2 on unknown flags and prints usage; --help and --version exit 0', async () => {
    const r = await run(['--frobnicate']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/usage: rtp-cluster/);
    expect((await run(['--help'])).stdout).toMatch(/usage: rtp-cluster \[-fd\]/);
    expect((await run(['-V'])).stdout).toMatch(/^rtp-cluster \d+\.\d+\.\d+$/);
  });

  it.each([
    ['the bin', DAEMON_BIN],
    ['the launcher', LAUNCHER],
  ])('the #! line of %s runs node with the daemon flags', async (_, file) => {
    const first = readFileSync(file, 'utf8').split('\n', 1)[0]!;
    expect(first).toBe(`#!/usr/bin/env -S node ${DAEMON_NODE_FLAGS.join(' ')}`);
    // as the kernel runs it: env gets the rest of the line as one argument, then the script
    const r = await execa('/usr/bin/env', [first.slice('#!/usr/bin/env '.length), file, '-V'], {
      reject: false,
      timeout: 15_000,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^rtp-cluster \d/);
  });

  it('detaches into a process that runs with the daemon flags', async () => {
    const config = join(dir, 'detach.yaml');
    writeFileSync(
      config,
      `clusters:\n  - name: media\n    protocol: udp\n    address: 127.0.0.1:0\n    rtpproxies:\n      - { name: r1, protocol: udp, address: "127.0.0.1:9", weight: 1, capacity: 10, status: ACTIVE }\n`,
    );
    const pidFile = join(dir, 'detach.pid');
    const r = await run(
      [
        '-c',
        config,
        '-P',
        pidFile,
        '-L',
        join(dir, 'detach.log'),
        '-s',
        join(dir, 'detach.sock'),
      ].concat(['--state-db', '']),
    );
    expect(r.exitCode).toBe(0);
    await until(() => existsSync(pidFile), { what: `the pid file ${pidFile}` });
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      for (const flag of DAEMON_NODE_FLAGS) expect(cmdline).toContain(flag);
    } finally {
      process.kill(pid, 'SIGTERM');
      await until(() => !existsSync(`/proc/${pid}`), { what: `pid ${pid} to exit` });
    }
  });
});
