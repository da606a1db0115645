import { describe, expect, it } from 'vitest';
import { parseRelayArgs } from './config.js';

const run = (argv: string[]) => {
  const r = parseRelayArgs(argv);
  if (r.kind !== 'run') throw new Error(`expected a config, got ${JSON.stringify(r)}`);
  return r.config;
};
const error = (argv: string[]): string => {
  const r = parseRelayArgs(argv);
  if (r.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r.message;
};

describe('parseRelayArgs', () => {
  it('fills rtpproxy-like defaults', () => {
    expect(run([])).toEqual({
      control: ['udp:127.0.0.1:22222'],
      ipv4: '127.0.0.1',
      ipv6: undefined,
      advertised: undefined,
      portMin: 35000,
      portMax: 65000,
      ttl: 60,
      notifySockets: [],
      allowedSources: ['127.0.0.0/8', '::1/128'],
      maxConnectionsPerSource: 16,
      controlIdleTimeoutMs: 120_000,
      maxSessionsPerSource: undefined,
      logLevel: 'info',
      logFormat: 'auto',
    });
    expect(Object.isFrozen(run([]))).toBe(true);
  });

  it('reads every flag, repeated -s and -n, and accepts -f -F', () => {
    const c = run([
      '-s',
      'udp:127.0.0.1:0',
      '-s',
      'cunix:/tmp/r.sock',
      '-l',
      '10.0.0.1',
      '-6',
      '::1',
      '-A',
      '192.0.2.1',
      '-m',
      '20000',
      '-M',
      '20099',
      '-T',
      '30',
      '-n',
      'unix:/tmp/n.sock',
      '-n',
      'tcp:%%CC_SELF%%:9',
      '-f',
      '-F',
      '--log-level',
      'debug',
      '--log-format',
      'json',
    ]);
    expect(c.control).toEqual(['udp:127.0.0.1:0', 'cunix:/tmp/r.sock']);
    expect([c.ipv4, c.ipv6, c.advertised, c.portMin, c.portMax, c.ttl]).toEqual([
      '10.0.0.1',
      '::1',
      '192.0.2.1',
      20000,
      20099,
      30,
    ]);
    expect(c.notifySockets).toEqual(['unix:/tmp/n.sock', 'tcp:%%CC_SELF%%:9']);
    expect(c.logLevel).toBe('debug');
    expect(c.logFormat).toBe('json');
  });

  it('reads the control-socket limits: sources besides loopback, caps, idle timeout', () => {
    const c = run([
      '--allow',
      '10.0.0.0/24',
      '--allow',
      'fd00::7',
      '--max-sessions-per-source',
      '500',
      '--max-connections-per-source',
      '4',
      '--control-idle-timeout',
      '0',
    ]);
    expect(c.allowedSources).toEqual(['127.0.0.0/8', '::1/128', '10.0.0.0/24', 'fd00::7']);
    expect([c.maxSessionsPerSource, c.maxConnectionsPerSource, c.controlIdleTimeoutMs]).toEqual([
      500, 4, 0,
    ]);
    expect(error(['--allow', 'lan'])).toMatch(/bad source "lan"/);
    expect(error(['--max-sessions-per-source', '-1'])).toMatch(/--max-sessions-per-source/);
  });

  it('with only -6 has no IPv4 media address', () => {
    expect(run(['-6', '::1']).ipv4).toBeUndefined();
  });

  it('reports each bad value', () => {
    expect(error(['--nope'])).toMatch(/nope/);
    expect(error(['-s', 'sctp:1.2.3.4'])).toMatch(/sctp/);
    expect(error(['-l', '::1'])).toMatch(/-l ::1/);
    expect(error(['-6', '1.2.3.4'])).toMatch(/-6 1.2.3.4/);
    expect(error(['-m', '70000'])).toMatch(/-m 70000/);
    expect(error(['-m', '5000', '-M', '5000'])).toMatch(/no RTP\/RTCP pair/);
    expect(error(['-T', '0'])).toMatch(/-T 0/);
    expect(error(['-n', 'udp:1.2.3.4:5'])).toMatch(/notify socket/);
    expect(error(['--log-level', 'loud'])).toMatch(/--log-level loud/);
    expect(error(['--log-format', 'xml'])).toMatch(
      /--log-format xml: expected auto, json or pretty/,
    );
    expect(error(['extra'])).toMatch(/extra/);
  });

  it('answers help and version', () => {
    expect(parseRelayArgs(['--help']).kind).toBe('help');
    expect(parseRelayArgs(['-v']).kind).toBe('version');
  });
});
