/**
 * usrloc benchmark: REGISTER saves/s on write-through SQLite (WAL), lookups/s, and memory per
 * contact; then replication between node processes on loopback TCP: replicated bindings/s
 * from one node to another, and the time for a joining node to sync `BENCH_SYNC_CONTACTS`
 * (default 1,000,000) bindings. `npm run bench -w @sipedge/usrloc [-- <contacts for the
 * memory figure>]` after `npx tsc -b packages/usrloc`; `BENCH_ONLY=local|repl` runs one part.
 * Prints each figure with its unit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseMessage } from '@sipedge/sip';
import {
  cpuSeconds,
  killJsonProcess as kill,
  type JsonProc as Proc,
  startJsonProcess,
  waitForLine as waitFor,
} from '@sipedge/test-utils';
import { createContactStore, Location, Registrar, SqliteStore } from '../src/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function register(i: number, cseq: number): Buffer {
  return Buffer.from(
    'REGISTER sip:example.com SIP/2.0\r\n' +
      `Via: SIP/2.0/UDP 192.0.2.${i % 250}:5060;branch=z9hG4bK${i}x${cseq}\r\n` +
      'Max-Forwards: 70\r\n' +
      `To: <sip:user${i}@example.com>\r\n` +
      `From: <sip:user${i}@example.com>;tag=${i}\r\n` +
      `Call-ID: ${i}-a84b4c76e66710@pc33.example.com\r\n` +
      `CSeq: ${cseq} REGISTER\r\n` +
      'Supported: path\r\n' +
      'Path: <sip:edge1.example.com;lr>\r\n' +
      `Contact: <sip:user${i}@192.0.2.${i % 250}:${5060 + (i % 1000)};transport=udp>;expires=3600\r\n` +
      'User-Agent: Phone/1.0\r\n' +
      'Content-Length: 0\r\n\r\n',
  );
}

/** CPU seconds (user + system) a process has used so far, from /proc (0 if unreadable). */
function procCpu(pid: number | undefined): number {
  return pid === undefined ? 0 : cpuSeconds(pid) || 0;
}

/** Runs `fn`, returns [wall seconds, CPU seconds (user + system)]. */
function timed(fn: () => void): [number, number] {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const c = process.cpuUsage(c0);
  return [(performance.now() - t0) / 1000, (c.user + c.system) / 1e6];
}

function rate(n: number, [wall, cpu]: [number, number], unit: string): string {
  return `${Math.round(n / wall)} ${unit} (per CPU-second: ${Math.round(n / cpu)})`;
}

const only = process.env.BENCH_ONLY; // 'local' | 'repl' | undefined (both)
const dir = mkdtempSync(join(tmpdir(), 'usrloc-bench-'));
if (only !== 'repl')
  try {
    // 1. save with write-through SQLite: new bindings, then refreshes of the same bindings
    const N = 50_000;
    const location = new Location({ store: new SqliteStore({ path: join(dir, 'bench.sqlite') }) });
    const registrar = new Registrar(location);
    const ctx = { received: 'sip:198.51.100.1:5060' };
    const fresh = Array.from({ length: N }, (_, i) => register(i, 1));
    const refresh = Array.from({ length: N }, (_, i) => register(i, 2));
    const saveAll = (list: Buffer[], into = registrar): void => {
      for (const b of list)
        if (into.save(parseMessage(b), ctx).status !== 200) throw new Error('save failed');
    };
    let r = timed(() => saveAll(fresh));
    console.log(
      `save, new binding (parse + save + 200, write-through SQLite WAL, one transaction each): ${rate(N, r, 'REGISTERs/s')}`,
    );
    r = timed(() => saveAll(refresh));
    console.log(
      `save, refresh (parse + save + 200, write-through SQLite WAL, one transaction each): ${rate(N, r, 'REGISTERs/s')}`,
    );

    // 1b. group commit: 32 REGISTERs decided, then one transaction, then the 32 replies
    const G = 32;
    const third = Array.from({ length: N }, (_, i) => register(N + i, 1));
    r = timed(() => {
      for (let i = 0; i < N; i += G) {
        const group = third.slice(i, i + G).map((b) => ({ request: parseMessage(b), ctx }));
        for (const res of registrar.saveMany(group))
          if (res.status !== 200) throw new Error('group save failed');
      }
    });
    console.log(
      `save, new binding, group commit of ${G} per transaction (write-through SQLite WAL): ${rate(N, r, 'REGISTERs/s')}`,
    );

    // 1c. storage.synchronous: full — every transaction fsynced before its 200; one binding
    // per transaction, then group commits of 32 (on this disk, the flush time is the bound)
    const F = 3000;
    const durable = new Location({
      store: new SqliteStore({ path: join(dir, 'bench-full.sqlite'), fullSync: true }),
    });
    const durableRegistrar = new Registrar(durable);
    const fourth = Array.from({ length: 2 * F }, (_, i) => register(2 * N + i, 1));
    r = timed(() => saveAll(fourth.slice(0, F), durableRegistrar));
    console.log(
      `save, new binding, synchronous=FULL (fsync per transaction, one each): ${rate(F, r, 'REGISTERs/s')}`,
    );
    r = timed(() => {
      for (let i = F; i < 2 * F; i += G) {
        const group = fourth.slice(i, i + G).map((b) => ({ request: parseMessage(b), ctx }));
        for (const res of durableRegistrar.saveMany(group))
          if (res.status !== 200) throw new Error('group save failed');
      }
    });
    console.log(
      `save, new binding, synchronous=FULL, group commit of ${G} per transaction: ${rate(F, r, 'REGISTERs/s')}`,
    );
    durable.stop();

    // 2. lookups on the same table
    const L = 1_000_000;
    const keys = Array.from({ length: 1000 }, (_, i) => `sip:user${(i * 37) % N}@example.com`);
    let found = 0;
    r = timed(() => {
      for (let i = 0; i < L; i++) found += registrar.lookup(keys[i % 1000]!).length;
    });
    if (found !== L) throw new Error(`lookup found ${found}`);
    console.log(`lookup (sip: URI in, branches with route out): ${rate(L, r, 'lookups/s')}`);
    location.stop();

    // 3. memory per contact (memory-only store, bindings made by the registrar)
    const M = Number(process.argv[2] ?? 1_000_000);
    gc();
    const before = process.memoryUsage().heapUsed;
    const mem = new Location({ store: createContactStore({ mode: 'memory-only' }) });
    const r2 = new Registrar(mem);
    r = timed(() => {
      for (let i = 0; i < M; i++) {
        r2.save(parseMessage(register(i, 1)), {
          received: `sip:198.51.100.${i % 250}:${40000 + (i % 20000)}`,
        });
      }
    });
    gc();
    const after = process.memoryUsage().heapUsed;
    console.log(
      `memory: ${mem.contactCount} contacts in ${mem.aorCount} AoRs, heap +${Math.round((after - before) / 1048576)} MiB`,
    );
    console.log(
      `memory per contact (Location index, memory-only store): ${Math.round((after - before) / mem.contactCount)} bytes/contact`,
    );
    console.log(`save, new binding, memory-only (while filling): ${rate(M, r, 'REGISTERs/s')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

// 4. replication between two node processes (loopback TCP)
const nodeScript = new URL('../test/repl-node.js', import.meta.url).pathname;

function startNode(cfg: Record<string, unknown>): Proc {
  return startJsonProcess(nodeScript, cfg);
}

// with SIPEDGE_PROFILE_DIR the nodes must exit cleanly to write their CPU profiles
const stopNode = (p: Proc): Promise<void> =>
  kill(p, process.env.SIPEDGE_PROFILE_DIR === undefined ? 'SIGKILL' : 'SIGTERM');

async function replication(): Promise<void> {
  const events = Number(process.env.BENCH_REPL_EVENTS ?? 200_000);
  const a = startNode({ id: 1, neighbors: [], seed: true, contacts: 0 });
  const procs = [a];
  try {
    const pa = Number((await waitFor(a, (l) => l.event === 'ready', 20_000)).port);
    await waitFor(a, (l) => l.event === 'synced', 20_000);
    const b = startNode({
      id: 2,
      neighbors: [{ id: 1, port: pa }],
      seed: false,
      contacts: 0,
      expect: events,
    });
    procs.push(b);
    await waitFor(b, (l) => l.event === 'synced', 20_000);
    a.child.stdin?.write(`write ${events}\n`);
    const wrote = await waitFor(a, (l) => l.event === 'wrote', 120_000);
    const got = await waitFor(b, (l) => l.event === 'count', 120_000);
    const ms = Number(got.t) - Number(wrote.t0);
    console.log(
      `replication, new bindings node 1 -> node 2 (two processes, loopback TCP): ${events} events in ${ms.toFixed(0)} ms = ${Math.round((events / ms) * 1000)} events/s (all ${String(got.n)} applied)`,
    );
  } finally {
    for (const p of procs) await stopNode(p);
  }

  const n = Number(process.env.BENCH_SYNC_CONTACTS ?? 1_000_000);
  // ping_interval 1 s, ping_timeout 300 ms (BENCH_PING_TIMEOUT_MS): the stream must not starve pings
  const pingTimeout = Number(process.env.BENCH_PING_TIMEOUT_MS ?? 300);
  const donor = startNode({ id: 1, neighbors: [], seed: true, contacts: n, pingTimeout });
  const procs2 = [donor];
  try {
    const pd = Number((await waitFor(donor, (l) => l.event === 'ready', 300_000)).port);
    const d = await waitFor(donor, (l) => l.event === 'synced', 300_000);
    const joiner = startNode({
      id: 2,
      neighbors: [{ id: 1, port: pd }],
      seed: false,
      contacts: 0,
      pingTimeout,
    });
    procs2.push(joiner);
    const asked = await waitFor(
      joiner,
      (l) => l.event === 'cap' && String(l.report).startsWith('Sync requested'),
      60_000,
    );
    const cpu0 = [procCpu(donor.child.pid), procCpu(joiner.child.pid)];
    const limitMs = Number(process.env.BENCH_SYNC_TIMEOUT_MS ?? 600_000);
    let done: Record<string, unknown>;
    try {
      done = await waitFor(joiner, (l) => l.event === 'synced', limitMs);
    } catch {
      // say what the joiner went through (sync restarts, donor lost) instead of only "timed out"
      const states = joiner.lines
        .filter((l) => l.event === 'cap' || l.event === 'node_state')
        .map(
          (l) =>
            `${(Number(l.t) - Number(asked.t)).toFixed(0)} ms ${String(l.report ?? `node ${String(l.nodeId)} up=${String(l.up)}`)}`,
        );
      console.log(
        `startup sync of ${n} contacts: not synced after ${limitMs} ms; joiner states:\n  ${states.join('\n  ')}`,
      );
      return;
    }
    const cpu = [
      procCpu(donor.child.pid) - (cpu0[0] ?? 0),
      procCpu(joiner.child.pid) - (cpu0[1] ?? 0),
    ];
    const ms = Number(done.t) - Number(asked.t);
    const ok = done.digest === d.digest && done.size === n;
    const restarts = joiner.lines.filter(
      (l) => l.event === 'cap' && String(l.report).startsWith('Sync started'),
    ).length;
    const downs = joiner.lines.filter((l) => l.event === 'node_state' && l.up === false).length;
    console.log(
      `startup sync of ${n} contacts to a joining node (two processes, loopback TCP, SYNC_REQ to synced): ${ms.toFixed(0)} ms = ${Math.round((n / ms) * 1000)} contacts/s, digest ${ok ? 'verified' : `MISMATCH ${String(done.digest)} vs ${String(d.digest)}`} (${String(done.size)}/${n}); ping_timeout ${pingTimeout} ms, syncs started ${restarts}, donor-down events ${downs}; CPU used meanwhile: donor ${cpu[0]?.toFixed(2)} s, joiner ${cpu[1]?.toFixed(2)} s`,
    );
  } finally {
    for (const p of procs2) await stopNode(p);
  }
}

if (only !== 'local') await replication();
