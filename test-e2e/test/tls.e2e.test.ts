/**
 * TLS against real peers, with certificates made by the test:
 * - one node with SIP over TLS and WSS, HTTPS for the MI and metrics: `openssl s_client` sees
 *   the node's certificate verify against the cluster CA; OPTIONS over TLS and WSS is
 *   answered; after the certificate files are replaced and SIGHUP sent, s_client sees the new
 *   certificate while a connection opened before keeps working;
 * - sipp REGISTERs and a call over TLS (sipp speaks TCP to stunnel, stunnel TLS to the node;
 *   Debian's sipp has no TLS): the call reaches a UAS registered as `;transport=tls` through
 *   an outbound TLS connection that verifies the UAS's certificate;
 * - three nodes whose links are all `bins:` come up (links Up, one vip owner) and replicate a
 *   REGISTER; a node whose certificate comes from another CA is refused, and the refusal is
 *   logged.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  peerPort,
  requirePeer,
  runProcess,
  SIPP,
  SIPP_UAC,
  SIPP_UAS,
  until,
} from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  type Address,
  activeOwners,
  type Cluster,
  type ClusterPki,
  type E2eNode,
  fingerprintOf,
  locations,
  makeClusterPki,
  optionsRequest,
  SipUdpUa,
  sClient,
  sipOptions,
  startCluster,
  startRegisterLoad,
  startStunnel,
  stopOnExit,
  waitTcpListening,
} from '../src/index.js';

/** Sends OPTIONS down an open TLS socket; resolves with the status line of the answer. */
function optionsOver(socket: tls.TLSSocket, to: Address): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(got.split('\r\n')[0] ?? '');
      }
    };
    socket.on('data', onData);
    socket.write(
      optionsRequest(to, 'TLS', { host: '127.0.0.1', port: socket.localPort ?? 0 }).text,
    );
  });
}

function tlsConnect(port: number, ca: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca }, () => resolve(s));
    s.once('error', reject);
  });
}

const reloaded = (node: E2eNode, n: number): number =>
  [...node.output().matchAll(/: reloaded: applied \[([^\]]*)\]/g)].filter((m) =>
    (m[1] ?? '').includes('tls.sip'),
  ).length - n;

describe('one node with TLS everywhere', () => {
  let cluster: Cluster;
  let pki: ClusterPki;
  let node: E2eNode;
  let caPem: string;

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: 1,
      proxy: false,
      start: [],
      tls: true,
      configure: (c) => {
        c.mi.tls = true;
        c.metrics = { enabled: true, port: 0, tls: true, process_metrics: false };
      },
    });
    pki = cluster.pki!;
    pki.issue('uas');
    node = cluster.node(1);
    caPem = readFileSync(pki.ca.certificate, 'utf8');
    node.miTls = { ca: caPem };
    try {
      await node.start();
    } catch (err) {
      await cluster[Symbol.asyncDispose]();
      throw err;
    }
  }, 60_000);
  afterAll(() => cluster?.[Symbol.asyncDispose]());

  it('s_client: SIP TLS and MI HTTPS serve the node certificate, verified by the CA', async () => {
    onTestFailed(() => console.log(cluster.logs()));
    const sipTls = node.sip.get('tls')!;
    const want = fingerprintOf(pki.certs.get('n1')!.certificate);
    for (const port of [sipTls.port, Number(new URL(node.miUrl).port)]) {
      const r = await sClient(port, pki.ca.certificate);
      expect(r.verified, r.output).toBe(true);
      expect(r.subject).toBe('CN=n1');
      expect(r.fingerprint256).toBe(want);
    }
    // a client trusting another CA fails to verify
    const other = makeClusterPki(join(cluster.dir), [], 'other-ca');
    const r = await sClient(sipTls.port, other.ca.certificate);
    expect(r.verified).toBe(false);
    expect(node.miUrl).toMatch(/^https:/);
    expect(await node.call('node_info')).toMatchObject({ node_id: 1 });
  });

  it('OPTIONS over TLS and over WSS are answered; metrics over HTTPS', async () => {
    onTestFailed(() => console.log(cluster.logs()));
    expect(await sipOptions('tls', node.sip.get('tls')!, { ca: caPem })).toBe(200);
    expect(await sipOptions('wss', node.sip.get('wss')!, { ca: caPem })).toBe(200);

    const metrics = /metrics (https:\S+)/.exec(node.output())?.[1];
    expect(metrics).toBeDefined();
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(metrics!, { ca: caPem }, (res) => {
          let t = '';
          res.on('data', (d: Buffer) => {
            t += d.toString();
          });
          res.on('end', () => resolve(t));
        })
        .once('error', reject);
    });
    expect(body).toContain('sipedge_sip_tls_handshake_errors');
  });

  it('SIGHUP re-reads replaced certificate files; an open connection keeps working', async () => {
    onTestFailed(() => console.log(cluster.logs()));
    const sipTls = node.sip.get('tls')!;
    const before = fingerprintOf(pki.certs.get('n1')!.certificate);
    const open = await tlsConnect(sipTls.port, caPem);
    expect(await optionsOver(open, sipTls)).toBe('SIP/2.0 200 OK');

    pki.issue('n1');
    const after = fingerprintOf(pki.certs.get('n1')!.certificate);
    expect(after).not.toBe(before);
    const seen = reloaded(node, 0);
    process.kill(node.pid, 'SIGHUP');
    await until(() => reloaded(node, seen) > 0, {
      what: 'the node to say it reloaded tls.sip',
      timeoutMs: 10_000,
    });
    for (const port of [sipTls.port, Number(new URL(node.miUrl).port)]) {
      const r = await sClient(port, pki.ca.certificate);
      expect(r.verified, r.output).toBe(true);
      expect(r.fingerprint256).toBe(after);
    }
    expect(open.getPeerX509Certificate()?.fingerprint256).toBe(before);
    expect(await optionsOver(open, sipTls)).toBe('SIP/2.0 200 OK');
    open.destroy();
  });

  it('sipp: REGISTERs and a call over TLS (sipp TCP → stunnel → node TLS → stunnel → sipp)', async () => {
    onTestFailed(() => console.log(cluster.logs()));
    requirePeer(SIPP);
    const sipTls = node.sip.get('tls')!;
    const dir = join(cluster.dir, 'sipp-tls');
    mkdirSync(dir);
    const toNode = await startStunnel(dir, 'to-node', {
      connect: sipTls.port,
      caFile: pki.ca.certificate,
    });
    const load = await startRegisterLoad({
      dir,
      target: { host: '127.0.0.1', port: toNode.port },
      transport: 't1',
      count: 50,
      rate: 100,
      prefix: 'tls',
    });
    const r = await load.done(60_000);
    expect(r.code, r.output.slice(-2000)).toBe(0);
    expect(r.ok.size).toBe(50);
    const here = await locations(node);
    expect(here.get('tls1')?.[0]?.Contact).toMatch(/^sip:tls1@127\.0\.0\.1:\d+$/);

    // the UAS: sipp on TCP behind a TLS stunnel whose certificate the node must verify
    const uasPort = await peerPort();
    const common = ['-i', '127.0.0.1', '-t', 't1', '-m', '1', '-nostdin', '-trace_logs'];
    const uas = runProcess(
      SIPP,
      ['-sf', SIPP_UAS, '-p', String(uasPort), ...common, '-timeout', '20s', '-timeout_error'],
      { cwd: dir },
    );
    stopOnExit(uas);
    await waitTcpListening(uasPort);
    const toUas = await startStunnel(dir, 'to-uas', {
      connect: uasPort,
      caFile: pki.ca.certificate,
      cert: pki.certs.get('uas')!,
    });
    await node.call('ul_add', {
      table_name: 'location',
      aor: 'uas@127.0.0.1',
      contact: `sip:uas@127.0.0.1:${toUas.port};transport=tls`,
      expires: 0,
      q: 1,
    });
    const uac = runProcess(
      SIPP,
      [
        '-sf',
        SIPP_UAC,
        '-p',
        String(await peerPort()),
        ...common,
        '-timeout',
        '20s',
        '-timeout_error',
        `127.0.0.1:${toNode.port}`,
      ],
      { cwd: dir },
    );
    stopOnExit(uac);
    try {
      const [uacCode, uasCode] = await Promise.all([uac.exit, uas.exit]);
      const out = `uac:\n${uac.output().slice(-1500)}\nuas:\n${uas.output().slice(-1500)}`;
      expect(uacCode, out).toBe(0);
      expect(uasCode, out).toBe(0);
    } finally {
      await uac.stop();
      await uas.stop();
      await toNode.proc.stop();
      await toUas.proc.stop();
    }
  }, 90_000);
});

describe('a cluster whose links are all bins:', () => {
  it('comes up, has one vip owner, replicates a REGISTER; a node of another CA is refused and logged', async () => {
    await using cluster = await startCluster({
      nodes: 3,
      proxy: false,
      ha: { active: 1 },
      tls: true,
      configure: (c) => {
        c.clusterer.listen = c.clusterer.listen.replace(/^bin:/, 'bins:');
        c.clusterer.neighbours = c.clusterer.neighbours.map((n) => ({
          ...n,
          url: n.url.replace(/^bin:/, 'bins:'),
        }));
      },
    });
    onTestFailed(() => console.log(cluster.logs(60)));
    const pki = cluster.pki!;
    for (const n of cluster.nodes) expect(n.binUrl).toMatch(/^bins:127\.0\.0\.1:\d+$/);
    await until(async () => (await activeOwners(cluster)).join(',') === '1', {
      what: 'node 1 to be the one vip owner',
    });

    {
      using ua = await new SipUdpUa().bind();
      const reg = await ua.register(cluster.node(2).sipUdp!, 'alice');
      expect(reg?.code, reg?.text).toBe(200);
    }
    for (const id of [1, 3]) {
      await until(async () => (await locations(cluster.node(id))).has('alice'), {
        what: `node ${id} to have alice (replicated over bins:)`,
      });
    }

    // node 3 comes back with a certificate from another CA: both others refuse it
    const rogue = makeClusterPki(join(cluster.dir), ['n3'], 'rogue-ca');
    const n3 = cluster.node(3);
    await n3.stop();
    n3.config.tls = { ...rogue.section('n3'), ca_list: pki.ca.certificate };
    await n3.start();
    await cluster.waitLinkState(1, [3], 'Down');
    await cluster.waitLinkState(2, [3], 'Down');
    await until(
      () =>
        /BIN TLS handshake refused/.test(cluster.node(1).output()) &&
        /BIN TLS handshake refused/.test(cluster.node(2).output()),
      { what: 'nodes 1 and 2 to log the refused handshake', timeoutMs: 15_000 },
    );
    expect(await activeOwners(cluster)).toEqual([1]);
    await cluster.waitLinked([1, 2]);
  }, 120_000);
});
