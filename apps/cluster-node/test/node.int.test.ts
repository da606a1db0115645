/**
 * One node in-process on loopback: MI exposes the core and every package's commands, SIP
 * requests are routed on every listener, /metrics mirrors the MI statistics, the embedded balancer's
 * optional control socket answers the rtpproxy protocol, reload applies relay and log-level
 * changes, the storage file is tied to its node id, and a failed start releases what it opened.
 */
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLUSTERER_TABLE_SQL } from '@sipedge/clusterer';
import { MiClient } from '@sipedge/mi';
import { RtppClient } from '@sipedge/rtpp';
import { peerPort, until } from '@sipedge/test-utils';
import Database from 'better-sqlite3';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { stringify } from 'yaml';
import { loadNodeConfig, parseNodeConfig } from '../src/config.js';
import { type ClusterNode, startNode } from '../src/node.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'cluster-node-node-'));
let fileNo = 0;

function baseConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    node: { id: 1 },
    sip: {
      listeners: [
        { proto: 'udp', address: '127.0.0.1:0' },
        { proto: 'tcp', address: '127.0.0.1:0' },
      ],
    },
    mi: { port: 0 },
    metrics: { port: 0, process_metrics: false },
    clusterer: { listen: 'bin:127.0.0.1:0' },
    rtp: {
      control_socket: 'udp:127.0.0.1:0',
      relays: [
        { name: 'r1', socket: 'udp:127.0.0.1:9', weight: 10 },
        { name: 'r2', socket: 'udp:127.0.0.1:7', weight: 20 },
      ],
    },
    storage: { file: join(dir, `store-${++fileNo}.sqlite`) },
    logging: { level: 'warn', format: 'json' },
    ...extra,
  };
}

const started: ClusterNode[] = [];
afterEach(async () => {
  for (const n of started.splice(0)) await n.stop();
});

async function start(input: Record<string, unknown>, configFile?: string): Promise<ClusterNode> {
  const node = await startNode(parseNodeConfig(input), {
    logger,
    ...(configFile === undefined ? {} : { configFile }),
  });
  started.push(node);
  return node;
}

const OPTIONS = (port: number) =>
  Buffer.from(
    'OPTIONS sip:node@127.0.0.1 SIP/2.0\r\n' +
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-test-1;rport\r\n` +
      'Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:node@127.0.0.1>\r\n' +
      'Call-ID: opt-1@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
  );

describe('cluster-node in-process', () => {
  it('exposes the core, clusterer, rtp-cluster and node commands on one MI server', async () => {
    const node = await start(baseConfig());
    const mi = new MiClient({ url: node.miUrl });
    try {
      const which = (await mi.call('which')) as string[];
      for (const cmd of [
        'version',
        'get_statistics',
        'clusterer_list',
        'rtp_cluster_list',
        'node_info',
      ]) {
        expect(which).toContain(cmd);
      }
      const info = (await mi.call('node_info')) as { node_id: number; sip: string[] };
      expect(info.node_id).toBe(1);
      expect(info.sip).toHaveLength(2);
      expect(await mi.call('clusterer_list')).toEqual({ Clusters: [{ cluster_id: 1, Nodes: [] }] });
    } finally {
      mi.close();
    }
  });

  it('routes SIP requests (an unknown user is 404) and counts garbage', async () => {
    const node = await start(baseConfig());
    const udp = node.sipListeners.find((l) => l.proto === 'udp');
    expect(udp).toBeDefined();
    const sock = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const reply = new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no SIP reply within 5 s')), 5000);
        sock.once('message', (m) => {
          clearTimeout(t);
          resolve(m.toString('latin1'));
        });
      });
      sock.send(Buffer.from('garbage\r\n\r\n'), udp?.port ?? 0, '127.0.0.1');
      sock.send(OPTIONS(sock.address().port), udp?.port ?? 0, '127.0.0.1');
      const text = await reply;
      expect(text.startsWith('SIP/2.0 404 Not Found\r\n')).toBe(true);
      expect(text).toMatch(/\r\nCall-ID: opt-1@test\r\n/);
    } finally {
      sock.close();
    }
    const mi = new MiClient({ url: node.miUrl });
    try {
      const stats = (await mi.call('get_statistics', [['sip:']])) as Record<string, number>;
      expect(stats['sip:lookup_404']).toBe(1);
      expect(stats['sip:requests_received']).toBe(1);
      expect(stats['sip:parse_errors']).toBeGreaterThanOrEqual(1);
    } finally {
      mi.close();
    }
  });

  it('answers over TCP and WebSocket listeners too', async () => {
    const node = await start(
      baseConfig({
        sip: {
          listeners: [
            { proto: 'tcp', address: '127.0.0.1:0' },
            { proto: 'ws', address: '127.0.0.1:0' },
          ],
        },
      }),
    );
    const tcp = node.sipListeners.find((l) => l.proto === 'tcp');
    const wsl = node.sipListeners.find((l) => l.proto === 'ws');
    if (tcp === undefined || wsl === undefined) throw new Error('listeners missing');
    const overTcp = await new Promise<string>((resolve, reject) => {
      const sock = connect(tcp.port, '127.0.0.1');
      const t = setTimeout(() => {
        sock.destroy();
        reject(new Error('no TCP reply within 5 s'));
      }, 5000);
      let got = '';
      sock.on('data', (d) => {
        got += d.toString('latin1');
        if (got.includes('\r\n\r\n')) {
          clearTimeout(t);
          sock.destroy();
          resolve(got);
        }
      });
      sock.on('error', reject);
      sock.write(
        OPTIONS(sock.localPort ?? 0)
          .toString('latin1')
          .replace('SIP/2.0/UDP', 'SIP/2.0/TCP'),
      );
    });
    expect(overTcp.startsWith('SIP/2.0 404 Not Found\r\n')).toBe(true);
    const overWs = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${wsl.port}/`, 'sip');
      const t = setTimeout(() => {
        ws.terminate();
        reject(new Error('no WebSocket reply within 5 s'));
      }, 5000);
      ws.on('open', () =>
        ws.send(OPTIONS(0).toString('latin1').replace('SIP/2.0/UDP', 'SIP/2.0/WS')),
      );
      ws.on('message', (m) => {
        clearTimeout(t);
        ws.close();
        resolve(m.toString());
      });
      ws.on('error', reject);
    });
    expect(overWs.startsWith('SIP/2.0 404 Not Found\r\n')).toBe(true);
  });

  it('serves /metrics from the MI statistics', async () => {
    const node = await start(baseConfig());
    expect(node.metricsUrl).toBeDefined();
    const res = await fetch(node.metricsUrl ?? '');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^# TYPE sipedge_clusterer_nodes gauge$/m);
    expect(text).toMatch(/^sipedge_rtp_cluster_no_member_total\{cluster="media"\} 0$/m);
    expect(text).toMatch(/^sipedge_sip_lookup_404_total 0$/m);
    expect((await fetch((node.metricsUrl ?? '').replace('/metrics', '/other'))).status).toBe(404);
    expect((await fetch(node.metricsUrl ?? '', { method: 'POST' })).status).toBe(405);
  });

  it('the balancer control socket answers the rtpproxy protocol', async () => {
    const node = await start(baseConfig());
    expect(node.rtpControlSockets).toHaveLength(1);
    const client = new RtppClient({ socket: node.rtpControlSockets[0] ?? '', timeoutMs: 2000 });
    try {
      expect(await client.send('V')).toEqual({ kind: 'value', value: '20040107' });
    } finally {
      client.destroy();
    }
    // rtp_cluster_list shows the socket that listens, not the balancer's placeholder address
    const mi = new MiClient({ url: node.miUrl });
    try {
      const list = (await mi.call('rtp_cluster_list')) as { Clusters: Record<string, unknown>[] };
      expect(list.Clusters[0]?.control_sockets).toEqual(node.rtpControlSockets);
      expect(list.Clusters[0]).not.toHaveProperty('address');
      expect(JSON.stringify(list)).not.toContain('/embedded/');
    } finally {
      mi.close();
    }
  });

  it('without control_socket no rtpproxy socket is opened', async () => {
    const cfg = baseConfig();
    const rtp = cfg.rtp as Record<string, unknown>;
    delete rtp.control_socket;
    const node = await start(cfg);
    expect(node.rtpControlSockets).toEqual([]);
    expect(node.balancer?.clusters[0]?.members.length).toBe(2);
    const mi = new MiClient({ url: node.miUrl });
    try {
      const list = (await mi.call('rtp_cluster_list')) as { Clusters: Record<string, unknown>[] };
      expect(list.Clusters[0]?.control_sockets).toEqual([]);
    } finally {
      mi.close();
    }
  });

  it('reload applies relay and log-level changes and reports what needs a restart', async () => {
    const file = join(dir, 'reload.yaml');
    const cfg = baseConfig();
    writeFileSync(file, stringify(cfg));
    const node = await startNode(loadNodeConfig(file), {
      logger: pino({ level: 'warn' }),
      configFile: file,
      env: {},
    });
    started.push(node);
    const rtp = cfg.rtp as { relays: Array<{ weight: number }> };
    (rtp.relays[0] as { weight: number }).weight = 50;
    cfg.logging = { level: 'error', format: 'json' };
    cfg.mi = { port: 0, root: '/other' };
    writeFileSync(file, stringify(cfg));
    const r = await node.reload();
    expect(r.applied.sort()).toEqual(['logging.level', 'rtp']);
    expect(r.needsRestart).toEqual(['mi']);
    const mi = new MiClient({ url: node.miUrl });
    try {
      const list = (await mi.call('rtp_cluster_list')) as {
        Clusters: Array<{ members: Array<{ name: string; weight: number }> }>;
      };
      expect(list.Clusters[0]?.members.find((m) => m.name === 'r1')?.weight).toBe(50);
      expect(await mi.call('log_level')).toMatchObject({ Processes: [{ 'Log level': -1 }] });
    } finally {
      mi.close();
    }
    writeFileSync(file, 'node: { id: "x" }\n');
    await expect(node.reload()).rejects.toThrow(/node\.id/);
  });

  it('db_mode 1 reads the nodes from the clusterer table of the storage file', async () => {
    // each node's table lists both urls before either starts
    const ports = [await peerPort(), await peerPort()];
    const nodes: ClusterNode[] = [];
    for (const id of [1, 2]) {
      const file = join(dir, `db-mode-1-node${id}.sqlite`);
      const db = new Database(file);
      db.exec(CLUSTERER_TABLE_SQL);
      const insert = db.prepare(
        'INSERT INTO clusterer (cluster_id, node_id, url) VALUES (1, ?, ?)',
      );
      for (const n of [1, 2]) insert.run(n, `bin:127.0.0.1:${ports[n - 1]}`);
      db.close();
      nodes.push(
        await start(
          baseConfig({
            node: { id },
            clusterer: {
              listen: `bin:127.0.0.1:${ports[id - 1]}`,
              db_mode: 1,
              ping_interval: 1,
              ping_timeout: 300,
            },
            storage: { file },
          }),
        ),
      );
    }
    for (const [i, node] of nodes.entries()) {
      const peer = i === 0 ? 2 : 1;
      await until(() => node.clusterer.getNodes(1).some((v) => v.nodeId === peer), {
        what: `node ${i + 1} to see node ${peer} up`,
        wake: (recheck) => {
          node.clusterer.on('node_state', recheck);
          return () => node.clusterer.off('node_state', recheck);
        },
      });
    }
  });

  it('an active node whose service address is still held elsewhere binds it once it is free', async () => {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((r) => holder.bind(0, '127.0.0.78', () => r()));
    const port = holder.address().port;
    const hook = join(dir, `hook-${++fileNo}.log`);
    const node = await start(
      baseConfig({
        ha: {
          service_address: `127.0.0.78:${port}`,
          sharing_tag: 'vip/1=active',
          on_active: `echo "$SIPEDGE_HA_STATE $SIPEDGE_SERVICE_ADDRESS" >> ${hook}`,
        },
      }),
    );
    // configured active, it claims the tag once the hold-down passes with no other owner
    await until(() => node.haActive, { what: 'the node active for the tag' });
    await until(() => existsSync(hook), { what: 'the on_active hook run' });
    expect(node.sip.service).toBeUndefined(); // the previous owner still has it
    expect(readFileSync(hook, 'utf8')).toBe(`active 127.0.0.78:${port}\n`); // hook ran first
    await new Promise<void>((r) => holder.close(() => r()));
    await until(() => node.sip.service !== undefined, { what: 'the service address bound' });
    expect(node.sip.service?.listeners[0]).toEqual({ proto: 'udp', address: '127.0.0.78', port });
  });

  it('refuses a storage file that belongs to another node', async () => {
    const cfg = baseConfig();
    const first = await start(cfg);
    await first.stop();
    await expect(start({ ...cfg, node: { id: 2 } })).rejects.toThrow(/belongs to node 1/);
  });

  it('a failed start releases the ports it had opened', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const taken = (blocker.address() as { port: number }).port;
    // a port known before the first start, to start the second node on
    const bin = await peerPort();
    try {
      const cfg = baseConfig({
        clusterer: { listen: `bin:127.0.0.1:${bin}` },
        mi: { port: taken },
      });
      await expect(start(cfg)).rejects.toThrow(/EADDRINUSE/);
      // the BIN port was released: a second node can take it
      const again = await start(baseConfig({ clusterer: { listen: `bin:127.0.0.1:${bin}` } }));
      expect(again.binAddress).toBe(`bin:127.0.0.1:${bin}`);
    } finally {
      blocker.close();
    }
  });
});
