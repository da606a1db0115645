import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRtpClusterConfig, RtpClusterConfigError, splitHostPort } from './schema.js';
import { parseRtpClusterXml } from './xml.js';

const fixture = readFileSync(
  new URL('../../test/fixtures/rtp_cluster.xml', import.meta.url),
  'utf8',
);

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof RtpClusterConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a config error');
}

const member = `<rtpproxy><name>m</name><protocol>udp</protocol><address>127.0.0.1:22222</address><weight>1</weight><capacity>10</capacity><status>ACTIVE</status></rtpproxy>`;
const cluster = (inner: string) =>
  `<rtp_cluster_config><rtp_cluster><name>c</name><protocol>udp</protocol><address>127.0.0.1:1</address>${inner}</rtp_cluster></rtp_cluster_config>`;

describe('rtp_cluster.xml', () => {
  it('reads every element of the file rtp_cluster reads', () => {
    const cfg = parseRtpClusterXml(fixture);
    expect(cfg.clusters).toHaveLength(2);
    const [a, b] = cfg.clusters;
    expect(a).toMatchObject({
      name: 'basic_network',
      protocol: 'udp',
      address: '127.0.0.1:32324',
      capacity_limit: 'hard',
      disconnect_notify: {
        inbound_address: '127.0.0.1:8889',
        dest_socket_prefix: 'unix:/var/run/rtpproxy_notify_',
      },
    });
    expect(a?.rtpproxies.map((m) => [m.name, m.protocol, m.weight, m.status])).toEqual([
      ['RTPPROXY0', 'unix', 100, 'ACTIVE'],
      ['RTPPROXY1', 'udp', 200, 'SUSPENDED'],
      ['RTPPROXY3', 'udp6', 100, 'ACTIVE'],
    ]);
    expect(a?.rtpproxies[0]).toMatchObject({ wan_address: '1.2.3.4', lan_address: '127.0.0.1' });
    expect(a?.rtpproxies[2]?.cmd_out_address).toBe('::1');
    expect(b?.name).toBe('second&one');
    expect(b?.capacity_limit).toBe('soft');
    expect(Object.isFrozen(cfg.clusters[0]?.rtpproxies[0])).toBe(true);
  });

  it('refuses an unknown element and names it', () => {
    const problems = problemsOf(() =>
      parseRtpClusterXml(cluster(member.replace('</status>', '</status><colour>red</colour>'))),
    );
    expect(problems.join('\n')).toMatch(/rtpproxy #1 › colour #1: unknown element <colour>/);
  });

  it('enforces the DTD order and required elements', () => {
    const swapped = member.replace(
      '<weight>1</weight><capacity>10</capacity>',
      '<capacity>10</capacity><weight>1</weight>',
    );
    expect(problemsOf(() => parseRtpClusterXml(cluster(swapped))).join('\n')).toMatch(
      /expected <weight> here, found <capacity>/,
    );
    const noStatus = member.replace('<status>ACTIVE</status>', '');
    expect(problemsOf(() => parseRtpClusterXml(cluster(noStatus))).join('\n')).toMatch(
      /rtpproxy #1: <status> is missing/,
    );
    expect(problemsOf(() => parseRtpClusterXml(cluster(''))).join('\n')).toMatch(
      /rtp_cluster #1: <rtpproxy> is missing/,
    );
    const twice = cluster(`<capacity_limit type="soft"/><capacity_limit type="hard"/>${member}`);
    expect(problemsOf(() => parseRtpClusterXml(twice)).join('\n')).toMatch(
      /capacity_limit #2: expected <rtpproxy> here, found <capacity_limit>/,
    );
  });

  it('refuses duplicate names, bad numbers, bad status and bad addresses, naming each', () => {
    const dup = cluster(member + member);
    expect(problemsOf(() => parseRtpClusterXml(dup))).toEqual([
      'rtp_cluster "c" › rtpproxy "m" › name: rtpproxy name "m" is not unique within the cluster',
    ]);
    const bad = member
      .replace('<weight>1<', '<weight>0<')
      .replace('<capacity>10<', '<capacity>ten<')
      .replace('ACTIVE', 'ASLEEP');
    const text = problemsOf(() => parseRtpClusterXml(cluster(bad))).join('\n');
    expect(text).toMatch(/rtpproxy "m" › weight: must be > 0/);
    expect(text).toMatch(/rtpproxy "m" › capacity: /);
    expect(text).toMatch(/rtpproxy "m" › status: /);
    // address rules need a valid record to check against its protocol: they come next
    const badAddress = member.replace('127.0.0.1:22222', '127.0.0.1:99999');
    expect(problemsOf(() => parseRtpClusterXml(cluster(badAddress)))).toEqual([
      'rtp_cluster "c" › rtpproxy "m" › address: port 99999 is out of range',
    ]);
  });

  it('refuses two clusters with one name', () => {
    const c = `<rtp_cluster><name>x</name><protocol>udp</protocol><address>127.0.0.1:1</address>${member}</rtp_cluster>`;
    const c2 = c.replace('127.0.0.1:1<', '127.0.0.1:2<');
    expect(
      problemsOf(() => parseRtpClusterXml(`<rtp_cluster_config>${c}${c2}</rtp_cluster_config>`)),
    ).toEqual(['rtp_cluster "x" › name: rtp_cluster name "x" is not unique']);
  });

  it('refuses entity declarations and malformed XML', () => {
    expect(
      problemsOf(() =>
        parseRtpClusterXml('<!DOCTYPE x [<!ENTITY a "aaaa">]><rtp_cluster_config/>'),
      )[0],
    ).toMatch(/entity declarations/);
    expect(problemsOf(() => parseRtpClusterXml('<rtp_cluster_config><rtp_cluster>'))[0]).toMatch(
      /not well-formed XML at line 1/,
    );
    expect(problemsOf(() => parseRtpClusterXml('<other/>'))[0]).toMatch(/<rtp_cluster_config>/);
  });
});

describe('JSON/YAML configuration', () => {
  it('accepts the same shape and fills defaults', () => {
    const cfg = parseRtpClusterConfig({
      clusters: [
        {
          name: 'c',
          protocol: 'tcp',
          address: '127.0.0.1:5000',
          rtpproxies: [
            {
              name: 'r',
              protocol: 'cunix',
              address: '/run/r.sock',
              weight: 1,
              capacity: 2,
              status: 'active',
            },
          ],
        },
      ],
    });
    expect(cfg.clusters[0]?.capacity_limit).toBe('soft');
    expect(cfg.clusters[0]?.rtpproxies[0]?.status).toBe('ACTIVE');
  });

  it('refuses an unknown key and an IPv6 address on udp', () => {
    const problems = problemsOf(() =>
      parseRtpClusterConfig({
        clusters: [
          {
            name: 'c',
            protocol: 'udp',
            address: '[::1]:5000',
            colour: 'red',
            rtpproxies: [],
          },
        ],
      }),
    );
    expect(problems.join('\n')).toMatch(/colour/);
    expect(problems.join('\n')).toMatch(/use udp6/);
    expect(problems.join('\n')).toMatch(/at least one rtpproxy/);
  });
});

describe('splitHostPort', () => {
  it.each([
    ['127.0.0.1', { host: '127.0.0.1', port: 22222 }],
    ['127.0.0.1:5', { host: '127.0.0.1', port: 5 }],
    ['localhost:32322', { host: 'localhost', port: 32322 }],
    ['[::1]:32323', { host: '::1', port: 32323 }],
    ['[::1]', { host: '::1', port: 22222 }],
    ['::1', { host: '::1', port: 22222 }],
  ])('%s', (text, expected) => {
    expect(splitHostPort(text)).toEqual(expected);
  });
  it.each([
    '',
    ':5',
    'a b:5',
    '[::1',
    '[::1]x',
    '1.2.3.4:x',
    '[nothost]:5',
    'a:b:c',
  ])('refuses %j', (text) => {
    expect(splitHostPort(text)).toBeUndefined();
  });
});
