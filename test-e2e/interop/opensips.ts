/**
 * `npm run interop:opensips`: two OpenSIPS 3.x nodes and one sipedge cluster-node in one
 * cluster on loopback, sharing registrations (usrloc `usrloc-contact-repl`) and a sharing tag.
 * It registers contacts on each node, restarts each node in turn (an OpenSIPS node syncing
 * from sipedge alone, sipedge syncing from OpenSIPS alone), moves the tag to an OpenSIPS node
 * by MI, checks that every contact is on every node and samples the tag's owners all along. Prints a summary; exits 1 on a failure,
 * 2 when OPENSIPS_BIN / OPENSIPS_MODULES are not given. Not part of CI: OpenSIPS is built by
 * hand (INTEROP.md).
 */
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notYet, type Proc, peerPort, runProcess, until } from '@sipedge/test-utils';
import { E2eNode, type NodeConfigObject } from '../src/node.js';

const HOST = '127.0.0.1';
const TAG = 'vip/1';
/** Contacts registered on each node. */
const PER_NODE = 20;

interface OpenSipsNode {
  readonly id: number;
  readonly sip: number;
  readonly bin: number;
  readonly http: number;
  readonly cfg: string;
  proc: Proc | undefined;
  /** Output of the runs so far. */
  log: string;
}

type Mi = (method: string, params?: unknown[]) => Promise<unknown>;

const checks: { what: string; ok: boolean; detail: string }[] = [];

async function owners(list: [number, Mi][]): Promise<number[]> {
  const out: number[] = [];
  for (const [id, mi] of list) if (await tagActive(mi).catch(() => false)) out.push(id);
  return out;
}
function check(what: string, ok: boolean, detail = ''): void {
  checks.push({ what, ok, detail });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail === '' ? '' : ` — ${detail}`}`);
}

function openSipsConfig(
  n: { id: number; sip: number; bin: number; http: number },
  modules: string,
  nodes: { id: number; bin: number }[],
  tag: 'active' | 'backup',
): string {
  const others = nodes.filter((o) => o.id !== n.id);
  return [
    'log_level=3',
    'stderror_enabled=yes',
    'syslog_enabled=no',
    'udp_workers=1',
    `socket=udp:${HOST}:${n.sip}`,
    `socket=bin:${HOST}:${n.bin}`,
    `mpath="${modules}"`,
    ...[
      'proto_udp',
      'proto_bin',
      'signaling',
      'sl',
      'tm',
      'clusterer',
      'usrloc',
      'registrar',
      'httpd',
      'mi_http',
    ].map((m) => `loadmodule "${m}.so"`),
    `modparam("clusterer", "my_node_id", ${n.id})`,
    'modparam("clusterer", "db_mode", 0)',
    `modparam("clusterer", "my_node_info", "cluster_id=1,node_id=${n.id},url=bin:${HOST}:${n.bin}${n.id === 1 ? ',flags=seed' : ''}")`,
    ...others.map(
      (o) =>
        `modparam("clusterer", "neighbor_node_info", "cluster_id=1,node_id=${o.id},url=bin:${HOST}:${o.bin}")`,
    ),
    `modparam("clusterer", "sharing_tag", "${TAG}=${tag}")`,
    'modparam("usrloc", "working_mode_preset", "full-sharing-cluster")',
    'modparam("usrloc", "location_cluster", 1)',
    'modparam("usrloc", "pinging_mode", "ownership")',
    `modparam("httpd", "ip", "${HOST}")`,
    `modparam("httpd", "port", ${n.http})`,
    'route {',
    `  if ($rm == "REGISTER") { save("location", , , "${TAG}"); exit; }`,
    '  sl_send_reply(404, "Not here");',
    '}',
    '',
  ].join('\n');
}

/** JSON-RPC over HTTP, as OpenSIPS's mi_http and sipedge's MI both answer it. */
function httpMi(url: string): Mi {
  let id = 0;
  return async (method, params = []) => {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method, params, id: ++id }),
      signal: AbortSignal.timeout(5000),
    });
    const body = (await r.json()) as { result?: unknown; error?: { message: string } };
    if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  };
}

/** A UDP UA that sends REGISTERs and waits for each final answer. */
async function registrar(): Promise<{
  register(port: number, user: string): Promise<string>;
  close(): void;
}> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, HOST, r));
  const me = sock.address().port;
  let n = 0;
  return {
    register: (port, user) => {
      const branch = `z9hG4bK-interop-${++n}`;
      const msg = [
        `REGISTER sip:${HOST}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${HOST}:${me};branch=${branch};rport`,
        'Max-Forwards: 70',
        `From: <sip:${user}@example.com>;tag=t-${user}`,
        `To: <sip:${user}@example.com>`,
        `Call-ID: cid-${user}`,
        'CSeq: 1 REGISTER',
        `Contact: <sip:${user}@192.0.2.${(n % 250) + 1}:5060>;expires=3600`,
        'User-Agent: interop/1.0',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          sock.off('message', on);
          reject(new Error(`no answer to the REGISTER of ${user}`));
        }, 3000);
        const on = (b: Buffer): void => {
          const s = b.toString('latin1');
          if (!s.includes(branch) || s.startsWith('SIP/2.0 1')) return;
          clearTimeout(timer);
          sock.off('message', on);
          resolve(s.slice(0, s.indexOf('\r\n')));
        };
        sock.on('message', on);
        sock.send(msg, port, HOST);
      });
    },
    close: () => sock.close(),
  };
}

/** The AoRs a node's `ul_dump` lists. */
async function aors(mi: Mi): Promise<Set<string>> {
  const r = (await mi('ul_dump')) as { Domains: { AORs: { AOR: string }[] }[] };
  return new Set(r.Domains.flatMap((d) => d.AORs.map((a) => a.AOR)));
}

/** Is `usrloc-contact-repl` synced on the node (`clusterer_list_cap`)? */
async function usrlocOk(mi: Mi): Promise<boolean> {
  const r = (await mi('clusterer_list_cap')) as {
    Clusters: { Capabilities: { name: string; state: string }[] }[];
  };
  return r.Clusters[0]?.Capabilities.find((c) => c.name === 'usrloc-contact-repl')?.state === 'Ok';
}

async function tagActive(mi: Mi): Promise<boolean> {
  const r = (await mi('clusterer_list_shtags')) as {
    Tag: string;
    Cluster: number;
    State: string;
  }[];
  return r.some((t) => `${t.Tag}/${t.Cluster}` === TAG && t.State === 'active');
}

async function main(): Promise<number> {
  const bin = process.env.OPENSIPS_BIN;
  const modules = process.env.OPENSIPS_MODULES;
  if (bin === undefined || modules === undefined || !existsSync(bin)) {
    console.error(
      'usage: OPENSIPS_BIN=/path/to/opensips OPENSIPS_MODULES=/path/to/modules/ npm run interop:opensips',
    );
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'interop-opensips-'));
  const nodes: OpenSipsNode[] = [];
  for (const id of [1, 2]) {
    nodes.push({
      id,
      sip: await peerPort(),
      bin: await peerPort(),
      http: await peerPort(),
      cfg: join(dir, `opensips${id}.cfg`),
      proc: undefined,
      log: '',
    });
  }
  const sipedgeBin = await peerPort();
  const vip = await peerPort();
  const all = [...nodes.map((n) => ({ id: n.id, bin: n.bin })), { id: 3, bin: sipedgeBin }];
  // the OpenSIPS nodes start as backups: the tag is owned by sipedge, which claims an unowned
  // tag (failover), as at the end of a migration; it is moved to OpenSIPS by MI at the end
  for (const n of nodes) writeFileSync(n.cfg, openSipsConfig(n, modules, all, 'backup'));
  const osMi = new Map(nodes.map((n) => [n.id, httpMi(`http://${HOST}:${n.http}/mi`)]));
  const sip = {
    listeners: [{ proto: 'udp', address: `${HOST}:0` }],
    nat_ping: { enabled: false },
  };
  const config: NodeConfigObject = {
    node: { id: 3, name: 'sipedge3' },
    sip,
    mi: { host: HOST, port: 0 },
    metrics: { enabled: false },
    clusterer: {
      cluster_id: 1,
      listen: `bin:${HOST}:${sipedgeBin}`,
      neighbours: nodes.map((n) => ({ node_id: n.id, url: `bin:${HOST}:${n.bin}` })),
      seed_fallback_interval: 2,
    },
    ha: { service_address: `${HOST}:${vip}`, sharing_tag: TAG },
    storage: { file: join(dir, 'sipedge3.sqlite') },
    logging: { level: 'info', format: 'json' },
  };
  const sipedge = new E2eNode(3, join(dir, 'sipedge3.yaml'), config, 20_000);
  const mis = (): [number, Mi][] => [
    ...nodes
      .filter((n) => n.proc !== undefined)
      .map((n) => [n.id, osMi.get(n.id) as Mi] as [number, Mi]),
    ...(sipedge.running
      ? [[3, (m: string, p?: unknown[]) => sipedge.call(m, p)] as [number, Mi]]
      : []),
  ];
  const startOs = async (n: OpenSipsNode): Promise<void> => {
    n.proc = runProcess(bin, ['-F', '-f', n.cfg]);
    const mi = osMi.get(n.id) as Mi;
    await until(
      async () => {
        await mi('which');
        return true;
      },
      { what: `OpenSIPS node ${n.id} to answer MI`, timeoutMs: 15_000 },
    );
  };
  const stopOs = async (n: OpenSipsNode): Promise<void> => {
    await n.proc?.stop('SIGTERM');
    n.log += n.proc?.output() ?? '';
    n.proc = undefined;
  };
  const ua = await registrar();
  // the tag's owners, sampled every 250 ms among the running nodes once it has its first
  const samples: { at: number; owners: number[] }[] = [];
  let sampling = true;
  let sampler: Promise<void> = Promise.resolve();
  const startSampling = (): void => {
    sampler = (async () => {
      while (sampling) {
        samples.push({ at: Date.now(), owners: await owners(mis()) });
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
  };
  const users: string[] = [];
  const everywhere = async (what: string): Promise<void> => {
    const t0 = Date.now();
    try {
      await until(
        async () => {
          for (const [id, mi] of mis()) {
            const have = await aors(mi);
            const lost = users.filter((u) => !have.has(u));
            if (lost.length > 0)
              return notYet(`node ${id} lacks ${lost.length}: ${lost.slice(0, 3)}`);
          }
          return true;
        },
        { what, timeoutMs: 30_000 },
      );
      check(
        what,
        true,
        `${users.length} contacts on ${mis().length} nodes in ${Date.now() - t0} ms`,
      );
    } catch (err) {
      check(what, false, (err as Error).message);
    }
  };
  const synced = async (id: number, mi: Mi, what: string): Promise<void> => {
    const t0 = Date.now();
    try {
      await until(async () => (await usrlocOk(mi)) || notYet('not synced'), {
        what,
        timeoutMs: 30_000,
      });
      check(what, true, `in ${Date.now() - t0} ms`);
    } catch (err) {
      check(what, false, (err as Error).message);
    }
    void id;
  };
  try {
    console.log(`interop: OpenSIPS ${bin}, working directory ${dir}`);
    for (const n of nodes) await startOs(n);
    await sipedge.start();
    const sipPorts = new Map<number, number>([
      [1, nodes[0]?.sip ?? 0],
      [2, nodes[1]?.sip ?? 0],
      [3, sipedge.sipUdp?.port ?? 0],
    ]);
    for (const [id, mi] of mis()) await synced(id, mi, `node ${id}: usrloc synced at start`);
    const t0 = Date.now();
    await until(async () => (await owners(mis())).length === 1 || notYet('no owner yet'), {
      what: `a first owner of ${TAG}`,
      timeoutMs: 15_000,
    });
    check(
      `${TAG} has one owner at start`,
      true,
      `${(await owners(mis())).join(',')}, after ${Date.now() - t0} ms`,
    );
    startSampling();
    // registrations on each node
    for (const [id, port] of sipPorts) {
      for (let i = 0; i < PER_NODE; i++) {
        const user = `n${id}u${i}`;
        const line = await ua.register(port, user);
        if (!line.startsWith('SIP/2.0 200')) check(`REGISTER ${user} on node ${id}`, false, line);
        users.push(user);
      }
    }
    await everywhere('every contact registered on each node is on every node');
    const [os1, os2] = nodes as [OpenSipsNode, OpenSipsNode];

    // 1. OpenSIPS node 1 restarts: syncs from node 2 or sipedge
    await stopOs(os1);
    await startOs(os1);
    await synced(1, osMi.get(1) as Mi, 'OpenSIPS node 1 restarted and synced');
    await everywhere('after OpenSIPS node 1 restarted, every contact on every node');

    // 2. OpenSIPS node 2 restarts with node 1 down: sipedge is its only donor
    await stopOs(os1);
    await stopOs(os2);
    await startOs(os2);
    await synced(2, osMi.get(2) as Mi, 'OpenSIPS node 2 synced from sipedge (the only donor)');
    await everywhere('OpenSIPS node 2 holds every contact after syncing from sipedge');
    await startOs(os1);
    await synced(1, osMi.get(1) as Mi, 'OpenSIPS node 1 back and synced');

    // 3. sipedge restarts with an empty table: only OpenSIPS nodes can be its donor
    await sipedge.stop();
    for (const f of ['sipedge3.sqlite', 'sipedge3.sqlite-wal', 'sipedge3.sqlite-shm'])
      rmSync(join(dir, f), { force: true });
    await sipedge.start();
    await synced(3, (m, p) => sipedge.call(m, p), 'sipedge synced from OpenSIPS (empty table)');
    await everywhere('sipedge holds every contact after syncing from OpenSIPS');
    const repl = (await sipedge.call('get_statistics', [['usrloc_repl:']])) as Record<
      string,
      number
    >;
    const received = repl['usrloc_repl:sync_items_received'] ?? 0;
    check('sipedge merged OpenSIPS sync items', received >= users.length, `${received} items`);

    // 4. a registration after all restarts still crosses both ways
    for (const [id, port] of sipPorts) {
      const user = `late${id}`;
      await ua.register(port, user);
      users.push(user);
    }
    await everywhere('registrations after the restarts reach every node');

    // 5. the operator moves the tag to OpenSIPS node 2: sipedge hears it and goes backup
    await (osMi.get(2) as Mi)('clusterer_shtag_set_active', [TAG]);
    try {
      await until(
        async () => {
          const o = await owners(mis());
          return (o.length === 1 && o[0] === 2) || notYet(`owners ${o.join(',')}`);
        },
        { what: 'OpenSIPS node 2 the only owner', timeoutMs: 10_000 },
      );
      check(`${TAG} moved to OpenSIPS node 2 by MI: its only owner`, true);
      await new Promise((r) => setTimeout(r, 1000));
    } catch (err) {
      check(`${TAG} moved to OpenSIPS node 2 by MI: its only owner`, false, (err as Error).message);
    }
  } catch (err) {
    check('run', false, (err as Error).stack ?? String(err));
  } finally {
    sampling = false;
    await sampler;
    ua.close();
    await sipedge.dispose();
    for (const n of nodes) await stopOs(n);
  }

  // the tag: never two owners; no stretch without one longer than a restart's detection
  const two = samples.filter((s) => s.owners.length > 1);
  let gap = 0;
  let longest = 0;
  for (let i = 1; i < samples.length; i++) {
    const s = samples[i] as { at: number; owners: number[] };
    const prev = samples[i - 1] as { at: number; owners: number[] };
    gap = s.owners.length === 0 ? gap + (s.at - prev.at) : 0;
    longest = Math.max(longest, gap);
  }
  const byOwner = new Map<string, number>();
  for (const s of samples) {
    const k = s.owners.length === 0 ? 'none' : s.owners.join('+');
    byOwner.set(k, (byOwner.get(k) ?? 0) + 1);
  }
  const dist = [...byOwner].map(([k, v]) => `${k}: ${v}`).join(', ');
  check(`${TAG} never had two owners`, two.length === 0, `${samples.length} samples (${dist})`);
  check(
    `${TAG} never without an owner for more than 10 s`,
    longest <= 10_000,
    `longest ${longest} ms`,
  );

  const failed = checks.filter((c) => !c.ok);
  console.log(
    `\ninterop:opensips — ${checks.length - failed.length} of ${checks.length} checks passed`,
  );
  if (failed.length > 0) {
    console.log(sipedge.logs(30));
    for (const n of nodes) {
      const lines = n.log.split('\n').filter((l) => /ERROR|WARNING|clusterer/.test(l));
      console.log(`--- OpenSIPS node ${n.id} (${n.cfg})\n${lines.slice(-15).join('\n')}`);
    }
  } else rmSync(dir, { recursive: true, force: true });
  return failed.length === 0 ? 0 : 1;
}

process.exitCode = await main();
