/**
 * The README's demo, as a newcomer runs it: `examples/three-nodes/start.mjs` (what the root
 * `npm start` runs after building) brings up two relays and three nodes on the example's fixed
 * addresses, logs nothing at error level, prints a status table once the cluster has settled and
 * the "try it" block last; the sipp command lines it prints — a callee, its REGISTER on the
 * service address 127.0.0.100:5060, a call to it placed a minute later, at a person's pace —
 * succeed, and so do its `npx sipedge` lines, run as printed.
 * Ctrl-C (SIGINT) stops everything; so do `npm start` getting SIGTERM (from `timeout` or a
 * service manager) and start.mjs being killed outright.
 * The demo's addresses are fixed, so both describes live in this one file: they run in turn.
 * Needs Debian `sip-tester` (sipp) and the bins built (`npx tsc -b apps/cluster-node`).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiClient } from '@sipedge/mi';
import { type Proc, requirePeer, runProcess, SIPP, until, waitUdpBound } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const START = join(ROOT, 'examples/three-nodes/start.mjs');
const REGISTER_XML = join(ROOT, 'examples/three-nodes/sipp-register.xml');
const CALLEE_PORT = 5090;

describe('the three-node demo (examples/three-nodes/start.mjs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-node-demo-'));
  let demo: Proc;
  const mis = [1, 2, 3].map((n) => new MiClient({ url: `http://127.0.0.1:888${n}/mi` }));

  beforeAll(async () => {
    requirePeer(SIPP);
    demo = runProcess(process.execPath, [START, '--no-build'], { cwd: ROOT, group: true });
    // printed once the cluster has settled: the "try it" block ends the output
    await until(async () => /\n {2}npx sipedge [^\n]*get_statistics[^\n]*\n/.test(demo.output()), {
      what: 'the demo to print its try-it block',
      timeoutMs: 60_000,
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n${demo.output().slice(-3000)}`);
    });
    await until(
      async () => {
        const infos = (await Promise.all(mis.map((m) => m.call('node_info')))) as Array<{
          ha_state: string;
          usrloc_synced: boolean;
        }>;
        return infos[0]?.ha_state === 'active' && infos.every((i) => i.usrloc_synced);
      },
      { what: 'node 1 active for vip/1 and every node synced', timeoutMs: 20_000 },
    );
  }, 90_000);

  afterAll(async () => {
    for (const m of mis) m.close();
    await demo?.stop('SIGINT');
  });

  it('logs nothing at error level on a normal start', () => {
    // not a terminal: the processes log JSON lines, `"level":50` is error, 60 fatal
    expect(demo.output()).toMatch(/"level":30/);
    expect(demo.output()).not.toMatch(/"level":[56]\d/);
  });

  it('prints a status table once settled, then the try-it block last', () => {
    const lines = demo.output().split('\n');
    const status = lines.findIndex((l) => /^status \(settled in \d+\.\d s\):$/.test(l));
    expect(status, demo.output().slice(-3000)).toBeGreaterThan(-1);
    const table = lines.slice(status + 1, status + 5).map((l) => l.split(/ {2,}/).slice(1));
    expect(table).toEqual([
      ['node', 'vip/1', 'usrloc', 'links', 'relays'],
      ['node1', 'active', 'synced', '2 Up, 3 Up', 'relay1 online, relay2 online'],
      ['node2', 'backup', 'synced', '1 Up, 3 Up', 'relay1 online, relay2 online'],
      ['node3', 'backup', 'synced', '1 Up, 2 Up', 'relay1 online, relay2 online'],
    ]);
    const tryIt = lines.findIndex((l) => l.startsWith('try it'));
    expect(tryIt).toBeGreaterThan(status);
    // nothing after the block: no log line has come since
    const block = lines.slice(tryIt + 1).filter((l) => l !== '');
    expect(block.length).toBe(7);
    for (const l of block) expect(l).toMatch(/^ {2}(sipp|npx sipedge) .*# /);
  });

  it('prints the addresses and the sipp command lines', () => {
    const out = demo.output();
    expect(out).toContain('service address: udp/tcp 127.0.0.100:5060');
    expect(out).toContain(
      'sipp -sf examples/three-nodes/sipp-register.xml -s bob -key contact_port 5090 127.0.0.100:5060 -m 1',
    );
    expect(out).toContain('sipp -sn uac -s bob 127.0.0.100:5060 -m 1');
  });

  it('the printed sipp REGISTER, then a minute later the call, succeed through the service address', async () => {
    const common = ['-nostdin', '-timeout', '20s', '-timeout_error', '-trace_err'];
    const uas = runProcess(
      SIPP,
      [
        ...['-sn', 'uas', '-i', '127.0.0.1', '-p', String(CALLEE_PORT), '-m', '1'],
        ...['-nostdin', '-timeout', '110s', '-timeout_error', '-trace_err'],
      ],
      { cwd: dir },
    );
    try {
      await waitUdpBound(CALLEE_PORT, 10_000);
      const reg = runProcess(
        SIPP,
        [
          '-sf',
          REGISTER_XML,
          '-s',
          'bob',
          '-key',
          'contact_port',
          String(CALLEE_PORT),
          '127.0.0.100:5060',
          '-m',
          '1',
          ...common,
        ],
        { cwd: dir },
      );
      expect(await reg.exit, reg.output().slice(-2000)).toBe(0);
      // the binding is replicated to node 3 with node 1's service address as its Path
      await until(
        async () => {
          const r = (await mis[2]!.call('ul_show_contact', ['location', 'bob@127.0.0.100'])) as {
            Contacts: Array<{ Path?: string }>;
          };
          return r.Contacts[0]?.Path === '<sip:127.0.0.100:5060;lr;pt>';
        },
        { what: 'bob on node 3' },
      );
      // a person reads the next line before typing it: a minute in which the callee (which
      // answers no OPTIONS) must stay registered on every node (regression: NAT pings once a
      // second removed it within ~12 s and the call got 404)
      await new Promise((r) => setTimeout(r, 60_000));
      for (const mi of mis) {
        const r = (await mi.call('ul_show_contact', ['location', 'bob@127.0.0.100'])) as {
          Contacts: unknown[];
        };
        expect(r.Contacts).toHaveLength(1);
      }
      const uac = runProcess(
        SIPP,
        ['-sn', 'uac', '-s', 'bob', '127.0.0.100:5060', '-m', '1', ...common],
        { cwd: dir },
      );
      const [uacCode, uasCode] = await Promise.all([uac.exit, uas.exit]);
      expect(uacCode, `uac:\n${uac.output().slice(-2000)}`).toBe(0);
      expect(uasCode, `uas:\n${uas.output().slice(-2000)}`).toBe(0);
    } finally {
      await uas.stop();
    }
  }, 150_000);

  it('the printed sipedge lines work as printed: bob on node 2, the tag, relays, statistics', async () => {
    const lines = demo
      .output()
      .split('\n')
      .filter((l) => l.startsWith('  npx sipedge '));
    const run = (line: string) =>
      new Promise<{ code: number; out: string }>((resolve) => {
        execFile('sh', ['-c', line], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : Number(err.code ?? 1), out: `${stdout}${stderr}` }),
        );
      });
    const expected: Array<[RegExp, RegExp]> = [
      [/--node 2 mi ul_dump/, /\bbob\b/],
      [/--node 1 mi clusterer_list_shtags/, /vip\s+1\s+active/],
      [/--node 1 mi rtp_cluster_list/, /relay1[\s\S]*relay2/],
      [/--node 1 mi get_statistics sip: usrloc:/, /usrloc:registered_users: +1\b/],
    ];
    expect(lines.map((l) => expected.findIndex(([cmd]) => cmd.test(l)))).toEqual([0, 1, 2, 3]);
    for (const line of lines) {
      const r = await run(line);
      expect(r.code, `${line}\n${r.out}`).toBe(0);
      expect(r.out, line).toMatch(expected.find(([cmd]) => cmd.test(line))![1]);
    }
  }, 120_000);

  it('Ctrl-C stops every process of the demo', async () => {
    const code = await demo.stop('SIGINT');
    expect(code).toBe(0);
    expect(demo.output()).toContain('stopping');
    await until(
      async () => {
        const { createSocket } = await import('node:dgram');
        const s = createSocket('udp4');
        return new Promise<boolean>((resolve) => {
          s.once('error', () => {
            s.close();
            resolve(false);
          });
          s.bind(5061, '127.0.0.1', () => {
            s.close();
            resolve(true);
          });
        });
      },
      { what: 'the SIP port of node 1 free again' },
    );
  }, 30_000);
});

/** Every live process as pid → [parent pid, command line]; zombies count as gone. */
function processes(): Map<number, [number, string]> {
  const found = new Map<number, [number, string]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may hold spaces and parentheses
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      found.set(Number(entry), [Number(ppid), cmdline]);
    } catch {
      // exited while we looked
    }
  }
  return found;
}

function descendants(root: number): Map<number, string> {
  const all = processes();
  const found = new Map<number, string>();
  let frontier = [root];
  while (frontier.length > 0) {
    const parents = new Set(frontier);
    frontier = [];
    for (const [pid, [ppid, cmdline]] of all) {
      if (parents.has(ppid) && !found.has(pid)) {
        found.set(pid, cmdline);
        frontier.push(pid);
      }
    }
  }
  return found;
}

describe('`npm start`, stopped the ways a user or a machine stops it', () => {
  for (const [how, target, signal] of [
    ['SIGTERM to the npm process (timeout, a service manager)', 'npm', 'SIGTERM'],
    ['SIGHUP to start.mjs (its terminal closed)', 'start.mjs', 'SIGHUP'],
  ] as const) {
    it(`${how} stops every process of the demo`, async () => {
      const npm = runProcess('npm', ['start'], { cwd: ROOT });
      let demo = new Map<number, string>();
      try {
        await until(async () => npm.output().includes('three-node cluster running'), {
          what: 'the demo to say it is running',
          timeoutMs: 90_000,
        }).catch((err: Error) => {
          throw new Error(`${err.message}\n${npm.output().slice(-3000)}`);
        });
        demo = descendants(npm.pid);
        const bins = [...demo.values()];
        expect(bins.filter((c) => c.includes('rtp-relay/dist/src/bin.js'))).toHaveLength(2);
        expect(bins.filter((c) => c.includes('cluster-node/dist/src/bin.js'))).toHaveLength(3);
        const start = [...demo].find(([, c]) =>
          /^\S*node examples\/three-nodes\/start\.mjs/.test(c),
        );
        expect(start, bins.join('\n')).toBeDefined();
        process.kill(target === 'npm' ? npm.pid : start![0], signal);
        await until(
          async () => {
            const live = processes();
            return [...demo.keys()].every((pid) => !live.has(pid));
          },
          // failure bounds for a loaded machine, not timing claims: a node drains up to 5 s
          { what: 'every process of the demo gone', timeoutMs: 45_000 },
        ).catch((err: Error) => {
          const live = processes();
          const left = [...demo].filter(([pid]) => live.has(pid)).map(([, c]) => c);
          throw new Error(`${err.message}; still running:\n${left.join('\n')}`);
        });
      } finally {
        // only what is still the demo's: a pid of a gone process may belong to someone else now
        const live = processes();
        for (const [pid, cmdline] of demo) {
          if (live.get(pid)?.[1] === cmdline) process.kill(pid, 'SIGKILL');
        }
        await npm.stop('SIGKILL');
      }
    }, 180_000);
  }
});
