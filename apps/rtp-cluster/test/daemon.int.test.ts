/**
 * The rtp-cluster daemon with three real sipedge-rtp-relay members (weights 1:2:3): spread,
 * stickiness, pause, drain-delete, a killed member, and a restart that keeps call bindings.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiClient } from '@sipedge/mi';
import { adminRequest } from '@sipedge/rtp-cluster';
import { RtppClient, type RtppReply } from '@sipedge/rtpp';
import { until } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAEMON_BIN, type Proc, startProcess, startRelay } from './processes.js';

const dir = mkdtempSync(join(tmpdir(), 'rtpc-int-'));
const relays: (Proc & { spec: string })[] = [];
let daemon: Proc & { control: string };
let client: RtppClient;
const admin = (cmd: string) => adminRequest(cmd, { socket: join(dir, 'admin.sock') });
const relayClients: RtppClient[] = [];

function configXml(): string {
  const members = relays
    .map(
      (r, i) => `
    <rtpproxy>
      <name>m${i + 1}</name>
      <protocol>udp</protocol>
      <address>${r.spec.replace(/^udp:/, '')}</address>
      <weight>${i + 1}</weight>
      <capacity>100000</capacity>
      <status>ACTIVE</status>
    </rtpproxy>`,
    )
    .join('');
  return `<?xml version="1.0"?>
<rtp_cluster_config>
  <rtp_cluster>
    <name>media</name>
    <protocol>udp</protocol>
    <address>127.0.0.1:0</address>
    ${members}
  </rtp_cluster>
</rtp_cluster_config>
`;
}

/** The daemon, and the control socket it bound (the config asks for port 0). */
async function startDaemon(): Promise<Proc & { control: string }> {
  const p = await startProcess(
    DAEMON_BIN,
    [
      '-f',
      '-c',
      join(dir, 'rtp_cluster.xml'),
      '-s',
      `unix:${join(dir, 'admin.sock')}`,
      '-P',
      join(dir, 'rtp_cluster.pid'),
      '--state-db',
      join(dir, 'state.sqlite'),
      '--heartbeat',
      '200',
      '--mi',
      '127.0.0.1:0',
      '--log-level',
      'warn',
    ],
    /rtp-cluster: (ready)/,
  );
  const control = /cluster media listening on (udp:\S+)/.exec(p.output())?.[1];
  if (control === undefined) throw new Error(`no control socket in:\n${p.output()}`);
  return Object.assign(p, { control });
}

/** Active sessions each relay reports, by `I`. */
async function sessionsPerRelay(): Promise<number[]> {
  const out: number[] = [];
  for (const c of relayClients) {
    const r = await c.send('Ib');
    if (r.kind !== 'info') throw new Error(`I answered ${JSON.stringify(r)}`);
    out.push(Number(r.entries.find(([k]) => k === 'active sessions')?.[1]));
  }
  return out;
}

/** Runs `n` tasks with at most `limit` in flight. */
async function pool<T>(n: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

const port = (r: RtppReply) => (r.kind === 'port' ? r.port : -1);

/** Waits until the admin command's output matches. */
async function untilAdmin(cmd: string, pattern: RegExp): Promise<void> {
  let last = '';
  await until(
    async () => {
      last = (await admin(cmd)).text;
      return pattern.test(last);
    },
    { what: () => `admin "${cmd}" to match ${pattern}; last:\n${last}`, intervalMs: 50 },
  );
}

beforeAll(async () => {
  for (let i = 0; i < 3; i++)
    relays.push(await startRelay(16000 + i * 12000, 16000 + i * 12000 + 11998));
  for (const r of relays) relayClients.push(new RtppClient({ socket: r.spec, timeoutMs: 3000 }));
  writeFileSync(join(dir, 'rtp_cluster.xml'), configXml());
  daemon = await startDaemon();
  client = new RtppClient({ socket: daemon.control, timeoutMs: 3000 });
  await untilAdmin('ls', /online members = 3 \(3 active/);
}, 60_000);

afterAll(async () => {
  await client?.close();
  for (const c of relayClients) await c.close();
  await daemon?.stop();
  for (const r of relays) await r.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('rtp-cluster daemon with three relays', () => {
  it('answers as one rtpproxy', async () => {
    expect(await client.sendRaw('V')).toBe('20040107');
    expect(await client.sendRaw('VF 20050322')).toBe('1');
    // the relays do not do notifications: the balancer does not claim them either
    expect(await client.sendRaw('VF 20081224')).toBe('0');
    // a client's bad D modifier is E8 from rtpproxy, which OpenSIPS reads as "proxy broken"
    expect(await client.sendRaw('Dx some-call ft')).toBe('E2');
  });

  it('serves MI: members as JSON, and pause/resume through it', async () => {
    const url = /MI at (\S+)/.exec(daemon.output())?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mi$/);
    const mi = new MiClient({ url: url! });
    try {
      const list = (await mi.call('rtp_cluster_list', ['media'])) as {
        Clusters: { members: { name: string; state: string; weight: number }[] }[];
      };
      expect(list.Clusters[0]!.members.map((m) => [m.name, m.state, m.weight])).toEqual([
        ['m1', 'online', 1],
        ['m2', 'online', 2],
        ['m3', 'online', 3],
      ]);
      expect(await mi.call('rtp_cluster_pause', ['media', 'm2'])).toBe('OK');
      expect((await admin('ls')).text).toMatch(/online members = 3 \(2 active, 1 suspended/);
      expect(await mi.call('rtp_cluster_resume', ['media', 'm2'])).toBe('OK');
    } finally {
      mi.close();
    }
  });

  it('spreads 3,000 new sessions 1:2:3 and keeps every later command of a call on its member', async () => {
    const n = 3000;
    await pool(n, 32, async (i) => {
      const r = await client.send(`U call-${i} 127.0.0.1 ${10000 + (i % 50000)} from-${i};1`);
      expect(r).toMatchObject({ kind: 'port' });
    });
    const counts = await sessionsPerRelay();
    expect(counts.reduce((a, b) => a + b, 0)).toBe(n);
    // expected 500/1000/1500; ±100 is about five standard deviations of the binomial spread
    expect(Math.abs(counts[0]! - 500)).toBeLessThan(100);
    expect(Math.abs(counts[1]! - 1000)).toBeLessThan(100);
    expect(Math.abs(counts[2]! - 1500)).toBeLessThan(100);
    // a lookup sent to any other member would miss (port 0): every answer must be a real port
    const looked = await pool(300, 32, (i) =>
      client.send(`L call-${i * 10} 127.0.0.1 20000 from-${i * 10};1 to-${i * 10};1`),
    );
    expect(looked.filter((r) => port(r) > 0)).toHaveLength(300);
  });

  it('pause keeps new sessions off a member; resume brings them back', async () => {
    expect((await admin('modify media pause m3')).text).toBe('OK\n');
    const before = await sessionsPerRelay();
    await pool(200, 16, (i) => client.send(`U paused-${i} 127.0.0.1 7000 f-${i};1`));
    const after = await sessionsPerRelay();
    expect(after[2]).toBe(before[2]);
    expect(after[0]! + after[1]! - before[0]! - before[1]!).toBe(200);
    expect((await admin('modify media resume m3')).text).toBe('OK\n');
  });

  it('a deleted member drains: no new sessions, removed once its calls are gone', async () => {
    expect((await admin('modify media delete m1')).text).toBe('OK\n');
    await untilAdmin('ls', /1 draining/);
    const before = await sessionsPerRelay();
    await pool(100, 16, (i) => client.send(`U drain-${i} 127.0.0.1 7000 f-${i};1`));
    expect((await sessionsPerRelay())[0]).toBe(before[0]);
    // delete every call through the balancer; m1's last call going away removes it
    const ids = [
      ...Array.from({ length: 3000 }, (_, i) => [`call-${i}`, `from-${i}`]),
      ...Array.from({ length: 200 }, (_, i) => [`paused-${i}`, `f-${i}`]),
      ...Array.from({ length: 100 }, (_, i) => [`drain-${i}`, `f-${i}`]),
    ];
    const replies = await pool(ids.length, 32, (i) => client.send(`D ${ids[i]![0]} ${ids[i]![1]}`));
    expect(replies.filter((r) => r.kind === 'value' && r.value === '0')).toHaveLength(ids.length);
    await untilAdmin('ls', /online members = 2 \(2 active, 0 suspended, 0 draining\)/);
    expect((await admin('ls media')).text).not.toMatch(/name = m1/);
  });

  it('keeps answering when a member is killed, and new calls go to the survivor', async () => {
    const m2 = relays[1]!;
    await m2.stop('SIGKILL');
    const replies = await pool(50, 8, (i) =>
      client.send(`U after-kill-${i} 127.0.0.1 7000 f-${i};1`),
    );
    expect(replies.filter((r) => port(r) <= 0)).toEqual([]);
    await untilAdmin('ls', /online members = 1 \(1 active.*\n {4}offline members = 1/);
    const third = await relayClients[2]!.send('Ib');
    expect(third.kind === 'info' && Number(third.entries[1]![1])).toBeGreaterThanOrEqual(50);
  });

  it('keeps call bindings across a daemon restart', async () => {
    // A call bound to m3 before the restart. After it, a new member m4 also holds a session
    // with the same call-id and tags: without the persisted binding the balancer would look the
    // call up by broadcast, find two positive members and answer the ambiguous L with 0.
    const r = await client.send('U sticky 127.0.0.1 7000 fs;1');
    expect(port(r)).toBeGreaterThan(0);
    expect(await daemon.stop()).toBe(0);
    daemon = await startDaemon();
    // the config asks for port 0: the restarted daemon answers on a port of its own
    await client.close();
    client = new RtppClient({ socket: daemon.control, timeoutMs: 3000 });
    // the file still lists m1 (drained at run time) and m2 (killed): m1 and m3 come up
    await untilAdmin('ls', /online members = 2 \(2 active.*\n {4}offline members = 1/);
    const extra = await startRelay(52000, 59998);
    relays.push(extra);
    const extraClient = new RtppClient({ socket: extra.spec, timeoutMs: 3000 });
    relayClients.push(extraClient);
    expect(port(await extraClient.send('U sticky 127.0.0.1 9000 fs;1'))).toBeGreaterThan(0);
    const add = await admin(
      `modify media add name=m4,protocol=udp,address=${extra.spec.replace(/^udp:/, '')},weight=1,capacity=100`,
    );
    expect(add.text).toBe('OK\n');
    await untilAdmin('ls', /online members = 3/);
    const looked = await client.send('L sticky 127.0.0.1 7002 fs;1 ts;1');
    expect(port(looked)).toBeGreaterThan(0);
  });
});
