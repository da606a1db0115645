import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyEnvOverrides,
  loadNodeConfig,
  NodeConfigError,
  parseNodeConfig,
  parseSharingTagText,
} from './config.js';

const minimal = () => ({
  node: { id: 1 },
  clusterer: { listen: 'bin:127.0.0.1:5561' },
});

/** The problem lines of a config that must fail. */
function problems(input: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    parseNodeConfig(input, env);
  } catch (err) {
    expect(err).toBeInstanceOf(NodeConfigError);
    return (err as NodeConfigError).problems;
  }
  throw new Error('config was accepted');
}

describe('sip and usrloc sections', () => {
  it('edge mode needs an upstream registrar, named by key', () => {
    expect(() => parseNodeConfig({ ...minimal(), sip: { mode: 'edge' } })).toThrow(
      /sip\.upstream: required when sip\.mode is edge/,
    );
    const c = parseNodeConfig({
      ...minimal(),
      sip: { mode: 'edge', upstream: { address: '127.0.0.1:5070' } },
    });
    expect(c.sip.upstream).toEqual({ proto: 'udp', address: '127.0.0.1:5070' });
  });

  it('usrloc takes OpenSIPS names and refuses the ones the node owns', () => {
    const c = parseNodeConfig({ ...minimal(), usrloc: { max_contacts: 5, min_expires: 30 } });
    expect(c.usrloc.max_contacts).toBe(5);
    expect(() => parseNodeConfig({ ...minimal(), usrloc: { db_url: 'x.sqlite' } })).toThrow(
      /usrloc/,
    );
    expect(() => parseNodeConfig({ ...minimal(), usrloc: { min_expires: -1 } })).toThrow(
      /usrloc\.min_expires/,
    );
  });
});

describe('defaults', () => {
  it('fills every section with OpenSIPS defaults and safe bindings', () => {
    const c = parseNodeConfig(minimal());
    expect(c.node).toEqual({ id: 1 });
    expect(c.sip).toEqual({
      listeners: [],
      mode: 'registrar',
      domains: [],
      record_route: true,
      max_transactions: 100_000,
      drain_timeout: 5,
      fr_inv_timeout: 120,
      nat_ping: {
        enabled: true,
        interval: 30,
        kind: 'options',
        remove_after_lost: 0,
        timeout: 3,
        all_contacts: false,
      },
      max_connections: 4096,
      tcp_accept_iplimit: 64,
      tcp_connection_lifetime: 120,
      tcp_msg_read_timeout: 10,
      ws_handshake_timeout: 10_000,
      pike: {
        enabled: false,
        sampling_time_unit: 2,
        reqs_density_per_unit: 30,
        remove_latency: 120,
        action: 'drop',
        max_sources: 16_384,
        trusted: [],
      },
      max_message_bytes: 65_535,
    });
    expect(c.usrloc.sql_write_mode).toBe('write-through');
    expect(c.usrloc.min_expires).toBe(60);
    expect(c.usrloc.path_mode).toBe('strict');
    expect(c.mi.host).toBe('127.0.0.1');
    expect(c.mi.port).toBe(8888);
    expect(c.mi.root).toBe('/mi');
    expect(c.metrics).toEqual({
      enabled: true,
      host: '127.0.0.1',
      port: 9090,
      path: '/metrics',
      process_metrics: true,
      tls: false,
    });
    expect(c.clusterer).toEqual({
      cluster_id: 1,
      listen: 'bin:127.0.0.1:5561',
      seed: false,
      db_mode: 0,
      neighbours: [],
      ping_interval: 4,
      ping_timeout: 1000,
      node_timeout: 60,
      enable_rerouting: true,
      accept_unknown_hosts: false,
      seed_fallback_interval: 5,
      sync_timeout: 15,
      shtag_failover_holddown: 300,
      remote_mi: { allow: ['read_only'] },
      first_packet_timeout: 5000,
      max_pending_per_host: 8,
      max_pending_unknown: 128,
      max_connections_per_node: 4,
    });
    expect(c.rtp).toBeUndefined();
    expect(c.ha).toBeUndefined();
    expect(c.storage).toEqual({ file: ':memory:', synchronous: 'normal' });
    expect(parseNodeConfig({ ...minimal(), storage: { file: 'n.sqlite' } }).storage).toEqual({
      file: 'n.sqlite',
      synchronous: 'normal',
    });
    expect(c.mi).toMatchObject({
      max_connections_per_source: 32,
      max_ws_clients_per_source: 16,
      request_timeout: 10,
      keepalive_timeout: 5,
    });
    expect(c.logging).toEqual({ level: 'info', format: 'auto' });
    expect(Object.isFrozen(c.clusterer)).toBe(true);
  });

  it('takes the SIP limits and pike settings with OpenSIPS/Kamailio names', () => {
    const c = parseNodeConfig({
      ...minimal(),
      sip: {
        tcp_connection_lifetime: 3605,
        tcp_accept_iplimit: 0,
        tcp_msg_read_timeout: 0.5,
        pike: {
          enabled: true,
          reqs_density_per_unit: 100,
          action: 'reply',
          trusted: ['192.0.2.7', '10.0.0.0/8', '2001:db8::/32'],
        },
      },
    });
    expect(c.sip.tcp_connection_lifetime).toBe(3605);
    expect(c.sip.tcp_accept_iplimit).toBe(0);
    expect(c.sip.pike).toMatchObject({
      enabled: true,
      reqs_density_per_unit: 100,
      action: 'reply',
    });
    expect(c.sip.pike.trusted).toHaveLength(3);
  });

  it('fills relay defaults', () => {
    const c = parseNodeConfig({
      ...minimal(),
      rtp: { relays: [{ name: 'r1', socket: 'udp:127.0.0.1:22221' }] },
    });
    expect(c.rtp).toEqual({
      name: 'media',
      capacity_limit: 'soft',
      anchor_media: true,
      replicate_calls: true,
      heartbeat_interval: 1000,
      control_allowed_sources: [],
      control_max_connections_per_source: 16,
      control_idle_timeout: 120,
      relays: [
        { name: 'r1', socket: 'udp:127.0.0.1:22221', weight: 1, capacity: 4000, status: 'ACTIVE' },
      ],
    });
    expect(c.rtp?.max_sessions_per_source).toBeUndefined();
  });
});

describe('bad keys are named', () => {
  const cases: Array<[string, (c: Record<string, unknown>) => void, RegExp]> = [
    ['missing node', (c) => delete c.node, /^node: is required$/],
    ['missing node.id', (c) => (c.node = {}), /^node\.id: is required$/],
    ['node.id zero', (c) => (c.node = { id: 0 }), /^node\.id: /],
    ['unknown top-level key', (c) => (c.sipp = {}), /^sipp: unknown key$/],
    ['unknown nested key', (c) => (c.node = { id: 1, nmae: 'x' }), /^node\.nmae: unknown key$/],
    [
      'bad BIN url',
      (c) => (c.clusterer = { listen: 'tcp:127.0.0.1:5561' }),
      /^clusterer\.listen: must be a BIN url/,
    ],
    [
      'ping_timeout not an integer',
      (c) => (c.clusterer = { listen: 'bin:127.0.0.1:5561', ping_timeout: 1.5 }),
      /^clusterer\.ping_timeout: /,
    ],
    [
      'ping_interval negative',
      (c) => (c.clusterer = { listen: 'bin:127.0.0.1:5561', ping_interval: -1 }),
      /^clusterer\.ping_interval: /,
    ],
    [
      'auth_secret shorter than 16 characters',
      (c) => (c.clusterer = { listen: 'bin:127.0.0.1:5561', auth_secret: 'short' }),
      /^clusterer\.auth_secret/,
    ],
    [
      'remote_mi from a node id out of range',
      (c) => (c.clusterer = { listen: 'bin:127.0.0.1:5561', remote_mi: { from: [0] } }),
      /^clusterer\.remote_mi\.from\[0\]: /,
    ],
    [
      // the clusterer's own range: such a value used to pass here and fail at start
      'sync_timeout beyond what the clusterer takes',
      (c) => (c.clusterer = { listen: 'bin:127.0.0.1:5561', sync_timeout: 7200 }),
      /^clusterer\.sync_timeout: /,
    ],
    [
      'neighbour with own id',
      (c) =>
        (c.clusterer = {
          listen: 'bin:127.0.0.1:5561',
          neighbours: [{ node_id: 1, url: 'bin:127.0.0.1:5562' }],
        }),
      /^clusterer\.neighbours\[0\]\.node_id: 1 is this node's own id/,
    ],
    [
      'bad SIP listener address',
      (c) => (c.sip = { listeners: [{ proto: 'udp', address: '127.0.0.1' }] }),
      /^sip\.listeners\[0\]\.address: must be host:port/,
    ],
    [
      'bad SIP listener proto',
      (c) => (c.sip = { listeners: [{ proto: 'sctp', address: '127.0.0.1:5060' }] }),
      /^sip\.listeners\[0\]\.proto: /,
    ],
    [
      'duplicate SIP listener',
      (c) =>
        (c.sip = {
          listeners: [
            { proto: 'tcp', address: '127.0.0.1:5060' },
            { proto: 'ws', address: '127.0.0.1:5060' },
          ],
        }),
      /^sip\.listeners\[1\]\.address: 127\.0\.0\.1:5060 is used by another/,
    ],
    ['MI on a public address without token', (c) => (c.mi = { host: '0.0.0.0' }), /^mi\.token: /],
    ['MI port out of range', (c) => (c.mi = { port: 70000 }), /^mi\.port: /],
    ['metrics path', (c) => (c.metrics = { path: 'metrics' }), /^metrics\.path: /],
    ['rtp without relays', (c) => (c.rtp = { relays: [] }), /^rtp\.relays: at least one relay/],
    [
      'bad relay socket',
      (c) => (c.rtp = { relays: [{ name: 'a', socket: 'http://x' }] }),
      /^rtp\.relays\[0\]\.socket: must be an rtpproxy socket/,
    ],
    [
      'duplicate relay names',
      (c) =>
        (c.rtp = {
          relays: [
            { name: 'a', socket: 'udp:127.0.0.1:1' },
            { name: 'a', socket: 'udp:127.0.0.1:2' },
          ],
        }),
      /^rtp\.relays\[1\]\.name: relay name "a" is used twice/,
    ],
    [
      'bad sharing tag',
      (c) => (c.ha = { service_address: '127.0.0.100:5060', sharing_tag: 'vip' }),
      /^ha\.sharing_tag: must be name\/cluster_id/,
    ],
    [
      'sharing tag of another cluster',
      (c) => (c.ha = { service_address: '127.0.0.100:5060', sharing_tag: 'vip/2' }),
      /^ha\.sharing_tag: cluster 2 is not this node's cluster/,
    ],
    [
      'bad service address',
      (c) => (c.ha = { service_address: 'vip', sharing_tag: 'vip/1' }),
      /^ha\.service_address: must be host:port/,
    ],
    [
      'negative tcp_connection_lifetime',
      (c) => (c.sip = { tcp_connection_lifetime: -1 }),
      /^sip\.tcp_connection_lifetime: /,
    ],
    [
      'pike trusted entry that is no address',
      (c) => (c.sip = { pike: { trusted: ['10.0.0.0/33'] } }),
      /^sip\.pike\.trusted\[0\]: must be an IP address or CIDR block/,
    ],
    ['unknown pike action', (c) => (c.sip = { pike: { action: 'ban' } }), /^sip\.pike\.action: /],
    ['bad log level', (c) => (c.logging = { level: 'loud' }), /^logging\.level: /],
    ['empty storage file', (c) => (c.storage = { file: '' }), /^storage\.file: /],
    [
      'unknown storage.synchronous',
      (c) => (c.storage = { file: 'n.sqlite', synchronous: 'extra' }),
      /^storage\.synchronous: /,
    ],
    [
      'a control source that is not an address',
      (c) =>
        (c.rtp = {
          relays: [{ name: 'a', socket: 'udp:127.0.0.1:1' }],
          control_allowed_sources: ['10.0.0.0/8', 'proxy.lan'],
        }),
      /^rtp\.control_allowed_sources\[1\]: must be an IP address or CIDR block/,
    ],
  ];
  for (const [what, mutate, expected] of cases) {
    it(what, () => {
      const c: Record<string, unknown> = minimal();
      mutate(c);
      const p = problems(c);
      expect(
        p.some((line) => expected.test(line)),
        p.join('\n'),
      ).toBe(true);
    });
  }

  it('reports every problem, not only the first', () => {
    const p = problems({ node: { id: 'x' }, clusterer: { listen: 'nope' }, extra: 1 });
    expect(p).toContainEqual(expect.stringMatching(/^node\.id: .*expected number/));
    expect(p).toContainEqual(expect.stringMatching(/^clusterer\.listen: must be a BIN url/));
    expect(p).toContain('extra: unknown key');
  });
});

describe('environment overrides', () => {
  it('maps SIPEDGE_<SECTION>__<KEY> onto section.key with YAML scalars', () => {
    const c = parseNodeConfig(minimal(), {
      SIPEDGE_CLUSTERER__PING_INTERVAL: '2',
      SIPEDGE_CLUSTERER__ENABLE_REROUTING: 'false',
      SIPEDGE_MI__PORT: '18881',
      SIPEDGE_NODE__NAME: 'edge-a',
      SIPEDGE_LOGGING__LEVEL: 'debug',
      SIPEDGE_PROFILE_DIR: '/tmp/not-config',
      PATH: '/usr/bin',
    });
    expect(c.clusterer.ping_interval).toBe(2);
    expect(c.clusterer.enable_rerouting).toBe(false);
    expect(c.mi.port).toBe(18881);
    expect(c.node.name).toBe('edge-a');
    expect(c.logging.level).toBe('debug');
  });

  it('creates missing sections and indexes lists', () => {
    const c = parseNodeConfig(
      { ...minimal(), rtp: { relays: [{ name: 'r1', socket: 'udp:127.0.0.1:22221' }] } },
      {
        SIPEDGE_RTP__RELAYS__0__WEIGHT: '50',
        SIPEDGE_RTP__RELAYS__1__NAME: 'r2',
        SIPEDGE_RTP__RELAYS__1__SOCKET: 'udp:127.0.0.1:22222',
        SIPEDGE_HA__SERVICE_ADDRESS: '127.0.0.100:5060',
        SIPEDGE_HA__SHARING_TAG: 'vip/1',
      },
    );
    expect(c.rtp?.relays.map((r) => [r.name, r.weight])).toEqual([
      ['r1', 50],
      ['r2', 1],
    ]);
    expect(c.ha?.sharing_tag).toBe('vip/1');
  });

  it('names the variable in an error', () => {
    const p = problems(minimal(), { SIPEDGE_CLUSTERER__PING_TIMEOUT: 'soon' });
    expect(p).toContainEqual(
      expect.stringMatching(
        /^clusterer\.ping_timeout: .*\(from SIPEDGE_CLUSTERER__PING_TIMEOUT\)$/,
      ),
    );
    const q = problems(minimal(), { SIPEDGE_MI__PROT: '1' });
    expect(q).toContain('mi.prot: unknown key (from SIPEDGE_MI__PROT)');
  });

  it('names a list entry set from the environment', () => {
    const p = problems(
      { ...minimal(), rtp: { relays: [{ name: 'r1', socket: 'udp:127.0.0.1:22221' }] } },
      { SIPEDGE_RTP__RELAYS__0__WEIGHT: '-1' },
    );
    expect(p).toContainEqual(
      expect.stringMatching(
        /^rtp\.relays\[0\]\.weight: .*\(from SIPEDGE_RTP__RELAYS__0__WEIGHT\)$/,
      ),
    );
  });

  it('refuses an index that skips entries', () => {
    expect(() => applyEnvOverrides({ a: [] }, { SIPEDGE_A__3: 'x' })).toThrow(/index 3 skips/);
  });

  it('a quoted value stays a string', () => {
    const { config } = applyEnvOverrides({}, { SIPEDGE_NODE__NAME: '"42"' });
    expect(config).toEqual({ node: { name: '42' } });
  });
});

describe('files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-node-config-'));
  it('reads YAML and JSON', () => {
    const y = join(dir, 'n.yaml');
    writeFileSync(y, 'node: { id: 3 }\nclusterer:\n  listen: bin:127.0.0.1:5563\n');
    expect(loadNodeConfig(y).node.id).toBe(3);
    const j = join(dir, 'n.json');
    writeFileSync(j, JSON.stringify({ node: { id: 4 }, clusterer: { listen: 'bin:127.0.0.1:1' } }));
    expect(loadNodeConfig(j).node.id).toBe(4);
  });

  it('a missing file, a syntax error and duplicate keys are config errors', () => {
    expect(() => loadNodeConfig(join(dir, 'absent.yaml'))).toThrow(/cannot read/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'node: { id: 1\n');
    expect(() => loadNodeConfig(bad)).toThrow(NodeConfigError);
    const dup = join(dir, 'dup.yaml');
    writeFileSync(dup, 'node: { id: 1 }\nnode: { id: 2 }\n');
    expect(() => loadNodeConfig(dup)).toThrow(/does not parse/);
  });
});

describe('parseSharingTagText', () => {
  it('reads OpenSIPS sharing_tag values', () => {
    expect(parseSharingTagText('vip/1')).toEqual({ name: 'vip', clusterId: 1, initial: 'backup' });
    expect(parseSharingTagText('vip/2=active')).toEqual({
      name: 'vip',
      clusterId: 2,
      initial: 'active',
    });
    expect(() => parseSharingTagText('vip')).toThrow(NodeConfigError);
  });
});
