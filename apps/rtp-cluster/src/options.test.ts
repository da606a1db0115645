import { describe, expect, it } from 'vitest';
import { DAEMON_NODE_FLAGS, daemonNodeArgs, parseDaemonArgs, UsageError } from './options.js';

describe('daemonNodeArgs', () => {
  it('adds the daemon flags the caller did not set, keeping the caller’s own', () => {
    expect(daemonNodeArgs([])).toEqual([...DAEMON_NODE_FLAGS]);
    expect(daemonNodeArgs(['--inspect'])).toEqual(['--inspect', ...DAEMON_NODE_FLAGS]);
    expect(daemonNodeArgs(['--max-semi-space-size=8'])).toEqual(['--max-semi-space-size=8']);
  });
});

describe('parseDaemonArgs: control-socket limits', () => {
  it('defaults: loopback only, 16 tcp connections per source, 120 s idle, cap from capacity', () => {
    const o = parseDaemonArgs([]);
    expect(o.allowedSources).toEqual(['127.0.0.0/8', '::1/128']);
    expect([o.maxSessionsPerSource, o.maxConnectionsPerSource, o.controlIdleTimeoutMs]).toEqual([
      undefined,
      16,
      120_000,
    ]);
  });

  it('reads --allow (repeatable), the caps and the idle timeout; refuses bad values', () => {
    const o = parseDaemonArgs([
      '--allow',
      '10.1.0.0/16',
      '--allow',
      '192.0.2.5',
      '--max-sessions-per-source',
      '2000',
      '--max-connections-per-source',
      '4',
      '--control-idle-timeout',
      '30',
    ]);
    expect(o.allowedSources).toEqual(['127.0.0.0/8', '::1/128', '10.1.0.0/16', '192.0.2.5']);
    expect([o.maxSessionsPerSource, o.maxConnectionsPerSource, o.controlIdleTimeoutMs]).toEqual([
      2000, 4, 30_000,
    ]);
    expect(() => parseDaemonArgs(['--allow', 'proxy.example'])).toThrow(UsageError);
    expect(() => parseDaemonArgs(['--max-sessions-per-source', 'many'])).toThrow(UsageError);
  });
});

describe('parseDaemonArgs --log-format', () => {
  it('is auto unless given; json and pretty are accepted, anything else is a usage error', () => {
    expect(parseDaemonArgs(['-f']).logFormat).toBe('auto');
    expect(parseDaemonArgs(['-f', '--log-format', 'json']).logFormat).toBe('json');
    expect(parseDaemonArgs(['--log-format=pretty']).logFormat).toBe('pretty');
    expect(() => parseDaemonArgs(['--log-format', 'xml'])).toThrow(UsageError);
  });
});
