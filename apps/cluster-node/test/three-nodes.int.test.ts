/**
 * Three cluster-node processes from generated configs on free loopback ports, with two
 * sipedge-rtp-relay members: over MI each node sees the other two Up (clusterer_list) and
 * answers rtp_cluster_list with both relays online; SIGTERM stops each with exit code 0.
 * Needs the bins built: `npx tsc -b apps/cluster-node` (builds apps/rtp-relay too).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiClient } from '@sipedge/mi';
// the BIN urls must be known before start: peer ports lie outside the ephemeral range, so that
// node 1's first connection attempts to nodes 2 and 3 (not listening yet) can never be given one
// of them as a source port and connect to themselves (Linux's TCP self-connect)
import { type Proc, peerPort, startNodeBin, until } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { NODE_BIN } from './cli.js';

const RELAY_BIN = fileURLToPath(new URL('../../rtp-relay/dist/src/bin.js', import.meta.url));

interface ClustererList {
  Clusters: Array<{ cluster_id: number; Nodes: Array<{ node_id: number; link_state: string }> }>;
}
interface RtpList {
  Clusters: Array<{ name: string; members: Array<{ name: string; state: string }> }>;
}

describe('three cluster-node processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-node-3-'));
  const relays: Array<Proc & { ready: string }> = [];
  const nodes: Array<Proc & { ready: string }> = [];
  const mi: MiClient[] = [];
  const configs: Array<Record<string, unknown> & { rtp: { relays: Array<{ weight: number }> } }> =
    [];
  const files: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      relays.push(
        await startNodeBin(
          RELAY_BIN,
          [
            '-s',
            'udp:127.0.0.1:0',
            '-m',
            String(41000 + i * 1000),
            '-M',
            String(41998 + i * 1000),
            '--log-level',
            'warn',
          ],
          /sipedge-rtp-relay ready control=([^\s,]+)/,
        ),
      );
    }
    const bins = [await peerPort(), await peerPort(), await peerPort()];
    for (let n = 1; n <= 3; n++) {
      const file = join(dir, `node${n}.yaml`);
      configs.push({
        node: { id: n, name: `t${n}` },
        sip: {
          listeners: [
            { proto: 'udp', address: '127.0.0.1:0' },
            { proto: 'tcp', address: '127.0.0.1:0' },
          ],
        },
        mi: { port: 0 },
        metrics: { port: 0 },
        clusterer: {
          listen: `bin:127.0.0.1:${bins[n - 1]}`,
          seed: n === 1,
          neighbours: [1, 2, 3]
            .filter((m) => m !== n)
            .map((m) => ({ node_id: m, url: `bin:127.0.0.1:${bins[m - 1]}` })),
          ping_interval: 1,
          ping_timeout: 300,
          node_timeout: 5,
        },
        rtp: {
          relays: relays.map((r, i) => ({ name: `relay${i + 1}`, socket: r.ready, weight: 10 })),
        },
        storage: { file: `./node${n}.sqlite` },
        logging: { level: 'warn', format: 'json' },
      });
      writeFileSync(file, stringify(configs[n - 1]));
      files.push(file);
      const p = await startNodeBin(NODE_BIN, ['--config', file], /MI (http:\S+)/);
      nodes.push(p);
      mi.push(new MiClient({ url: p.ready }));
    }
  }, 60_000);

  afterAll(async () => {
    for (const c of mi) c.close();
    for (const p of [...nodes, ...relays]) await p.stop('SIGKILL');
  });

  it('every node sees the other two Up over MI clusterer_list', async () => {
    for (let n = 1; n <= 3; n++) {
      const client = mi[n - 1] as MiClient;
      await until(
        async () => {
          const r = (await client.call('clusterer_list')) as ClustererList;
          const peers = r.Clusters.find((c) => c.cluster_id === 1)?.Nodes ?? [];
          return (
            peers.length === 2 &&
            peers.every((p) => p.link_state === 'Up') &&
            peers
              .map((p) => p.node_id)
              .sort()
              .join() === [1, 2, 3].filter((m) => m !== n).join()
          );
        },
        { what: `node ${n} to see its peers up`, timeoutMs: 20_000 },
      );
    }
  }, 70_000);

  it('every node answers rtp_cluster_list with both relays online', async () => {
    for (const client of mi) {
      await until(
        async () => {
          const r = (await client.call('rtp_cluster_list')) as RtpList;
          const members = r.Clusters[0]?.members ?? [];
          return members.length === 2 && members.every((m) => m.state === 'online');
        },
        { what: 'relays online', timeoutMs: 15_000 },
      );
      const r = (await client.call('rtp_cluster_list')) as RtpList;
      expect(r.Clusters.map((c) => c.name)).toEqual(['media']);
      expect(r.Clusters[0]?.members.map((m) => m.name)).toEqual(['relay1', 'relay2']);
    }
  }, 50_000);

  it('SIGHUP reloads the relays of the configuration file', async () => {
    const cfg = configs[0];
    const relay = cfg?.rtp.relays[0];
    if (cfg === undefined || relay === undefined) throw new Error('no config');
    relay.weight = 77;
    writeFileSync(files[0] ?? '', stringify(cfg));
    const first = nodes[0];
    if (first === undefined) throw new Error('node 1 did not start');
    process.kill(first.pid, 'SIGHUP');
    await until(
      async () => {
        const r = (await mi[0]?.call('rtp_cluster_list')) as {
          Clusters: Array<{ members: Array<{ name: string; weight: number }> }>;
        };
        return r.Clusters[0]?.members.find((m) => m.name === 'relay1')?.weight === 77;
      },
      { what: 'the new weight' },
    );
    expect(first.output()).toMatch(/reloaded: applied \[rtp\]/);
  }, 20_000);

  it('SIGTERM stops every node gracefully (exit 0)', async () => {
    for (const p of nodes) expect(await p.stop('SIGTERM')).toBe(0);
  }, 30_000);
});
