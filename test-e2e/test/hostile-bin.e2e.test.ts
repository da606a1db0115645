/**
 * Attacks on the cluster links (BIN) of a real three-node cluster, each node on its own
 * loopback address (node i on 127.0.0.i, outbound BIN bound to it): a connection claiming
 * another node's id from a different address, MI_CMD packets a node may not send, 512 idle
 * connections from a node's host, and over `bins:` a node whose certificate names another
 * host. Every node also serves SIP over TLS and WSS. After each, `expectServing`: nothing forged
 * is stored, every node answers a fresh OPTIONS over UDP, TCP, TLS and WSS and MI, the links are
 * up with one owner of the service address, and no process died.
 *
 * The certificates are made at test time with Debian's `openssl` (test-utils `makeTestCa`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePacket, parseBinUrl } from '@sipedge/clusterer';
import { makeTestCa, makeTestCertificate, notYet, until } from '@sipedge/test-utils';
import { describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import {
  aors,
  type Cluster,
  expectServing,
  type NodeConfigObject,
  startCluster,
} from '../src/index.js';

/** Node i listens for BIN on 127.0.0.i and names its neighbours there (`bins:` with TLS). */
function ownAddresses(proto: 'bin' | 'bins') {
  return (c: NodeConfigObject, id: number): void => {
    const at = (url: string, node: number) =>
      url.replace(/^bin:127\.0\.0\.1:/, `${proto}:127.0.0.${node}:`);
    c.clusterer.listen = at(c.clusterer.listen, id);
    c.clusterer.neighbours = c.clusterer.neighbours.map((n) => ({
      ...n,
      url: at(n.url, n.node_id),
    }));
  };
}

/** Statistics of a node (`get_statistics`), by name without the group. */
async function stats(cluster: Cluster, id: number): Promise<Record<string, number>> {
  const r = await cluster.node(id).call<Record<string, number>>('get_statistics', [['clusterer:']]);
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k.replace(/^clusterer:/, ''), v]));
}

/** A raw BIN connection to `to` from the local address `from`; resolves once connected. */
async function binFrom(from: string, to: string): Promise<net.Socket> {
  const { host, port } = parseBinUrl(to);
  const s = net.connect({ host, port, localAddress: from });
  s.on('error', () => {});
  await new Promise<void>((r, reject) => {
    s.once('connect', () => r());
    s.once('error', reject);
  });
  return s;
}

const closed = (s: net.Socket): Promise<void> =>
  new Promise((r) => (s.closed ? r() : s.once('close', () => r())));

const ping = (src: number): Buffer =>
  encodePacket({ kind: 'ping', cluster: 1, src, reqNodeList: false });

const ulAdd = (src: number, dst: number, user: string): Buffer =>
  encodePacket({
    kind: 'mi_cmd',
    cluster: 1,
    src,
    dst,
    command: 'ul_add',
    params: ['location', `${user}@e2e.test`, `sip:${user}@192.0.2.66`, '0', '1'],
  });

describe('hostile traffic on the cluster links (BIN)', () => {
  it('refuses spoofed node ids and MI_CMDs a node may not send; survives 512 idle connections', async () => {
    await using cluster = await startCluster({
      nodes: 3,
      proxy: false,
      ha: { active: 1 },
      tls: true,
      logLevel: 'warn',
      configure: (c, id) => {
        ownAddresses('bin')(c, id);
        // node 1 lets node 3, and only node 3, add contacts
        if (id === 1) c.clusterer.remote_mi = { allow: ['read_only', 'ul_add'], from: [3] };
      },
    });
    onTestFailed(() => console.log(cluster.logs(80)));
    await expectServing(cluster, { after: 'the start' });
    const n2 = cluster.node(2);

    // 1. node ids claimed from addresses they do not live at (node 2's listener, from node
    // 3's host: any local process there can do this)
    const claims1 = await binFrom('127.0.0.3', n2.binUrl);
    claims1.write(Buffer.concat([ping(1), ulAdd(1, 2, 'forged1')]));
    await closed(claims1);
    const as3 = await binFrom('127.0.0.3', n2.binUrl);
    // admitted as node 3 (it is node 3's address), then "relays" node 1's command, and runs
    // one as node 3 that the default remote_mi (read-only commands) does not allow
    as3.write(Buffer.concat([ping(3), ulAdd(1, 2, 'forged2'), ulAdd(3, 2, 'forged3')]));
    await until(
      async () => {
        const s = await stats(cluster, 2);
        return (
          (s.bin_refused_wrong_address === 1 &&
            s.bin_refused_relayed_control === 1 &&
            s.bin_refused_mi_not_allowed === 1) ||
          notYet(JSON.stringify(s))
        );
      },
      { what: 'node 2 to count the three refusals' },
    );
    as3.destroy();
    expect(n2.output()).toMatch(/BIN peer 127\.0\.0\.3 refused: wrong address/);
    for (const n of cluster.nodes) {
      const stored = await aors(n);
      expect(
        [...stored].filter((a) => a.startsWith('forged')),
        n.name,
      ).toEqual([]);
    }
    await expectServing(cluster, { after: 'spoofed node ids' });

    // 2. MI_CMD from real nodes: node 2 may not send any to node 1, node 3 only ul_add
    const add = (user: string) => ['location', `${user}@e2e.test`, `sip:${user}@192.0.2.9`, 0, 1];
    const from2 = await n2.call('cluster_send_mi', [1, 1, 'ul_add', add('forged4')]);
    expect(from2).toMatchObject({ node_id: 1, error: { code: 403 } });
    const rm = await cluster.node(3).call('cluster_send_mi', [1, 1, 'ul_rm', ['location', 'x']]);
    expect(rm).toMatchObject({ node_id: 1, error: { code: 403 } });
    const from3 = await cluster.node(3).call('cluster_send_mi', [1, 1, 'ul_add', add('allowed')]);
    expect(from3).toEqual({ node_id: 1, result: 'OK' });
    const s1 = await stats(cluster, 1);
    expect(s1.bin_refused_mi_node_not_allowed).toBe(1);
    expect(s1.bin_refused_mi_not_allowed).toBe(1);
    const stored = await aors(cluster.node(1));
    expect(stored.has('allowed')).toBe(true);
    expect(stored.has('forged4')).toBe(false);
    await expectServing(cluster, { after: 'MI_CMDs a node may not send' });

    // 3. 512 idle connections from node 1's host to node 2's listener; nodes 3 and 1 restart
    // and must link with node 2 again (they used to be refused once 512 were held)
    const idle = await Promise.all(
      Array.from({ length: 512 }, () => binFrom('127.0.0.1', n2.binUrl).catch(() => undefined)),
    );
    try {
      await cluster.node(3).restart();
      await cluster.waitLinked([2, 3], 20_000);
      await cluster.node(1).restart();
      await cluster.waitLinked([1, 2], 20_000);
      const s2 = await stats(cluster, 2);
      expect(s2.bin_pending_evicted).toBeGreaterThanOrEqual(500);
      expect(s2.bin_connections_pending).toBeLessThanOrEqual(2 * 8);
    } finally {
      for (const s of idle) s?.destroy();
    }
    await expectServing(cluster, { after: '512 idle connections from a node' });
  }, 60_000);

  it('bins: refuses a node whose certificate names another host, and logs it', async () => {
    // node 3's certificate names node 2's address
    const dir = mkdtempSync(join(tmpdir(), 'sipedge-bins-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const ca = makeTestCa(dir);
    const tls = (id: number) => {
      const c = makeTestCertificate(ca, `n${id}`, { ips: [`127.0.0.${id === 3 ? 2 : id}`] });
      return { certificate: c.certificate, private_key: c.privateKey, ca_list: ca.certificate };
    };
    await using cluster = await startCluster({
      nodes: 3,
      proxy: false,
      start: [1, 2],
      tls: true,
      logLevel: 'warn',
      configure: (c, id) => {
        ownAddresses('bins')(c, id);
        c.clusterer.tls = tls(id);
      },
    });
    onTestFailed(() => console.log(cluster.logs(80)));
    await cluster.node(3).start();
    await until(
      async () => {
        const [a, b] = [await stats(cluster, 1), await stats(cluster, 2)];
        return (
          ((a.bin_refused_certificate_name ?? 0) > 0 &&
            (b.bin_refused_certificate_name ?? 0) > 0 &&
            (a.bin_tls_name_mismatches ?? 0) > 0) ||
          notYet(JSON.stringify([a, b]))
        );
      },
      { what: 'nodes 1 and 2 to refuse node 3 both ways', timeoutMs: 15_000 },
    );
    expect(cluster.node(1).output()).toMatch(/BIN peer 127\.0\.0\.3 refused: certificate name/);
    const list = await cluster.node(1).call<ClustererList>('clusterer_list');
    expect(list.Clusters[0]?.Nodes.find((n) => n.node_id === 3)?.link_state).not.toBe('Up');
    await expectServing(cluster, { after: 'a node with the wrong certificate', linked: [1, 2] });
  }, 60_000);
});

interface ClustererList {
  Clusters: Array<{ Nodes: Array<{ node_id: number; link_state: string }> }>;
}
