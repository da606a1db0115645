/**
 * `/metrics` of real nodes, as Prometheus reads it: two nodes in one cluster, a sharing tag
 * active on node 1, two relays (down), a SIP request on each listener. The exposition is checked
 * by Prometheus's own parser and linter (`promtool check metrics`, Debian `prometheus`), then
 * for names, types, labels and descriptions; the shipped alert rules and Grafana dashboard are
 * checked by `promtool check rules` and against the names the nodes emit.
 * Needs promtool (`npm run peers`).
 */
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peerPort, until } from '@sipedge/test-utils';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseNodeConfig } from '../src/config.js';
import { type ClusterNode, startNode } from '../src/node.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ALERTS = join(ROOT, 'packaging/prometheus/alerts.yml');
const DASHBOARD = join(ROOT, 'packaging/grafana/sipedge.json');
const PROMTOOL = '/usr/bin/promtool';

function promtool(args: string[], input?: string): { status: number | null; output: string } {
  if (!existsSync(PROMTOOL)) {
    throw new Error(`${PROMTOOL} is missing: apt-get install prometheus (npm run peers)`);
  }
  const r = spawnSync(PROMTOOL, args, { input, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Families of an exposition: name → type and HELP, and the label sets of their samples. */
interface Family {
  type: string;
  help: string;
  samples: Array<Record<string, string>>;
}

function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = out.get(name);
    if (f === undefined) {
      f = { type: 'untyped', help: '', samples: [] };
      out.set(name, f);
    }
    return f;
  };
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === 'TYPE') family(meta[2]!).type = meta[3]!;
      else family(meta[2]!).help = meta[3]!;
      continue;
    }
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})? \S+$/.exec(line);
    if (sample === null) continue;
    let name = sample[1]!;
    // histogram and summary samples belong to their family
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && ['histogram', 'summary'].includes(out.get(base)?.type ?? '')) {
        name = base;
      }
    }
    const labels: Record<string, string> = {};
    for (const m of (sample[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1]!] = m[2]!;
    }
    family(name).samples.push(labels);
  }
  return out;
}

/** Metric names a PromQL expression reads (identifiers followed by a selector or used bare). */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const words = withoutStrings.match(/\b[a-z_][a-z0-9_]*\b(?!\s*\()/g) ?? [];
  const promql = new Set([
    'sum',
    'min',
    'max',
    'avg',
    'count',
    'group',
    'stddev',
    'stdvar',
    'topk',
    'bottomk',
    'quantile',
    'by',
    'without',
    'on',
    'ignoring',
    'group_left',
    'group_right',
    'and',
    'or',
    'unless',
    'bool',
    'offset',
  ]);
  const labels = new Set(['cluster', 'node', 'tag', 'relay', 'capability', 'listener']);
  labels.add('transport').add('job').add('instance').add('version').add('node_version');
  return [...new Set(words)].filter((w) => !promql.has(w) && !labels.has(w) && !w.startsWith('__'));
}

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'cluster-node-metrics-'));

describe('/metrics of a two-node cluster', () => {
  const nodes: ClusterNode[] = [];
  let text = '';

  beforeAll(async () => {
    const bins = [await peerPort(), await peerPort()];
    const service = await peerPort();
    for (const id of [1, 2]) {
      const config = parseNodeConfig({
        node: { id },
        sip: {
          listeners: [
            { proto: 'udp', address: '127.0.0.1:0' },
            { proto: 'tcp', address: '127.0.0.1:0' },
          ],
          // every statistic a node can have: pike's too
          pike: { enabled: true },
        },
        mi: { port: 0 },
        metrics: { port: 0 },
        clusterer: {
          listen: `bin:127.0.0.1:${bins[id - 1]}`,
          seed: id === 1,
          neighbours: [{ node_id: 3 - id, url: `bin:127.0.0.1:${bins[2 - id]}` }],
          ping_interval: 1,
          ping_timeout: 300,
          node_timeout: 5,
          seed_fallback_interval: 1,
        },
        rtp: {
          control_socket: 'udp:127.0.0.1:0',
          relays: [
            { name: 'relay1', socket: 'udp:127.0.0.1:9', weight: 10 },
            { name: 'relay2', socket: 'udp:127.0.0.1:7', weight: 10 },
          ],
        },
        ha: {
          service_address: `127.0.0.1:${service}`,
          sharing_tag: `vip/1=${id === 1 ? 'active' : 'backup'}`,
        },
        storage: { file: join(dir, `node${id}.sqlite`) },
        logging: { level: 'silent', format: 'json' },
      });
      nodes.push(
        await startNode(config, { logger, version: '9.8.7', env: { SIPEDGE_COMMIT: 'c0ffee' } }),
      );
    }
    await until(
      async () =>
        nodes[0]!.mi.stats.get('shtag:active') === 1 &&
        nodes.every(
          (n) =>
            n.mi.stats.get('clusterer:node_reachable') === 1 &&
            n.clusterer.isSynced('usrloc-contact-repl'),
        ),
      { what: 'node 1 active for vip/1, both nodes reachable and synced', timeoutMs: 30_000 },
    );
    // one OPTIONS on the UDP listener of node 1
    const udp = nodes[0]!.sipListeners.find((l) => l.proto === 'udp')!;
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const port = (sock.address() as { port: number }).port;
    sock.send(
      'OPTIONS sip:node@127.0.0.1 SIP/2.0\r\n' +
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-metrics-1;rport\r\n` +
        'Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:node@127.0.0.1>\r\n' +
        'Call-ID: metrics-1@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
      udp.port,
      '127.0.0.1',
    );
    await new Promise<void>((r) => sock.once('message', () => r()));
    sock.close();
    const res = await fetch(nodes[0]!.metricsUrl ?? '');
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    text = await res.text();
  }, 60_000);

  afterAll(async () => {
    for (const n of nodes) await n.stop();
  });

  it('passes promtool check metrics (the reference parser and linter) without a remark', () => {
    const r = promtool(['check', 'metrics'], text);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('promtool sees a broken exposition (the check can fail)', () => {
    const r = promtool(['check', 'metrics'], '# TYPE x_total gauge\nx_total{a="1" 1\n');
    expect(r.status).not.toBe(0);
  });

  it('names: counters end in _total, nothing says its group twice, every family described', () => {
    const all = families(text);
    const sipedge = [...all].filter(([name]) => name.startsWith('sipedge_'));
    expect(sipedge.length).toBeGreaterThan(80);
    for (const [name, f] of sipedge) {
      expect(['counter', 'gauge'], name).toContain(f.type);
      expect(name.endsWith('_total'), `${name} is a ${f.type}`).toBe(f.type === 'counter');
      expect(name, 'stutter').not.toMatch(/^sipedge_([a-z]+)_\1_/);
      expect(f.help, `${name} has no description`).not.toMatch(/no description|^MI statistic/);
      expect(f.samples.length, `${name} has no sample`).toBeGreaterThan(0);
    }
  });

  it('types and labels of the families operators alert and graph on', () => {
    const all = families(text);
    const expectFamily = (name: string, type: string, labels: string[]): Family => {
      const f = all.get(name);
      expect(f, `${name} missing`).toBeDefined();
      expect(f!.type, name).toBe(type);
      for (const s of f!.samples) expect(Object.keys(s).sort(), name).toEqual([...labels].sort());
      return f!;
    };
    const build = expectFamily('sipedge_build_info', 'gauge', [
      'version',
      'node_version',
      'commit',
    ]);
    expect(build.samples).toEqual([
      { version: '9.8.7', node_version: process.version, commit: 'c0ffee' },
    ]);
    const tags = expectFamily('sipedge_shtag_active', 'gauge', ['cluster', 'tag']);
    expect(tags.samples).toEqual([{ cluster: '1', tag: 'vip' }]);
    expect(text).toMatch(/^sipedge_shtag_active\{cluster="1",tag="vip"\} 1$/m);
    expectFamily('sipedge_clusterer_nodes', 'gauge', ['cluster']);
    expect(text).toMatch(/^sipedge_clusterer_node_reachable\{cluster="1",node="2"\} 1$/m);
    expectFamily('sipedge_clusterer_node_link_up', 'gauge', ['cluster', 'node']);
    expectFamily('sipedge_clusterer_capability_synced', 'gauge', ['cluster', 'capability']);
    expect(text).toMatch(
      /^sipedge_clusterer_capability_synced\{cluster="1",capability="usrloc-contact-repl"\} 1$/m,
    );
    expectFamily('sipedge_clusterer_bin_packets_sent_total', 'counter', []);
    const relays = expectFamily('sipedge_rtp_cluster_relay_up', 'gauge', ['cluster', 'relay']);
    expect(relays.samples.map((s) => s.relay).sort()).toEqual(['relay1', 'relay2']);
    expectFamily('sipedge_rtp_cluster_relay_rtt_seconds', 'gauge', ['cluster', 'relay']);
    expectFamily('sipedge_rtp_cluster_commands_total', 'counter', ['cluster']);
    const udp = nodes[0]!.sipListeners.find((l) => l.proto === 'udp')!;
    expectFamily('sipedge_sip_requests_received_total', 'counter', ['listener', 'transport']);
    expect(text).toContain(
      `sipedge_sip_requests_received_total{listener="127.0.0.1:${udp.port}",transport="udp"} 1`,
    );
    expectFamily('sipedge_sip_parse_errors_total', 'counter', []);
    expectFamily('sipedge_usrloc_registered_users', 'gauge', []);
    expectFamily('sipedge_pike_blocked_total', 'counter', []);
    expectFamily('sipedge_rtp_cluster_control_idle_closed_total', 'counter', []);
    expectFamily('process_cpu_seconds_total', 'counter', []);
  });

  it('the alert rules parse and read only metrics the nodes emit', () => {
    const r = promtool(['check', 'rules', ALERTS]);
    expect(r.status, r.output).toBe(0);
    const emitted = new Set(families(text).keys());
    const doc = parse(readFileSync(ALERTS, 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
    };
    const alerts = doc.groups.flatMap((g) => g.rules);
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      'SipedgeCapabilityNotSynced',
      'SipedgeNodeDown',
      'SipedgeNodeUnreachable',
      'SipedgeRelayOffline',
      'SipedgeTagWithTwoOwners',
      'SipedgeTagWithoutOwner',
    ]);
    for (const a of alerts) {
      for (const name of metricNames(a.expr)) {
        // `up` is Prometheus's own, one per scrape target
        if (name !== 'up') expect(emitted, `${a.alert}: ${name}`).toContain(name);
      }
    }
  });

  it('the Grafana dashboard graphs only metrics the nodes emit', () => {
    const emitted = new Set(families(text).keys());
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t.expr]));
    expect(exprs.length).toBeGreaterThan(8);
    for (const [title, expr] of exprs) {
      const names = metricNames(expr!);
      expect(names.length, `${title}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        if (name !== 'up') expect(emitted, `${title}: ${name}`).toContain(name);
      }
    }
  });
});
