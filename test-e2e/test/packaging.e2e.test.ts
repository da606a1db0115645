/**
 * packaging/: the systemd units pass `systemd-analyze verify` without a warning and keep their
 * sandbox; the container files name what exists, and the image's healthcheck tells a live MI
 * from a dead one. systemd-analyze comes from Debian's `systemd` package (`npm run peers`
 * installs it); without it this fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createMiCore, MiServer } from '@sipedge/mi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cleanNpmEnv, publicPackages, REPO_ROOT, run } from '../src/packages.js';

const systemdDir = join(REPO_ROOT, 'packaging', 'systemd');
const dockerDir = join(REPO_ROOT, 'packaging', 'docker');
const units = readdirSync(systemdDir)
  .filter((f) => f.endsWith('.service'))
  .sort();
const commands = new Set(publicPackages().flatMap((p) => Object.keys(p.manifest.bin ?? {})));

function systemdAnalyze(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error("systemd-analyze is missing: install Debian's systemd (npm run peers)");
  }
}

/** `[Service]` and the other sections of a unit file: key → every value, in order. */
function directives(file: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('[')) continue;
    const at = line.indexOf('=');
    const key = line.slice(0, at);
    out.set(key, [...(out.get(key) ?? []), line.slice(at + 1)]);
  }
  return out;
}

it('has a unit for cluster-node, rtp-cluster and the relay', () => {
  expect(units).toEqual([
    'sipedge-cluster-node.service',
    'sipedge-rtp-cluster.service',
    'sipedge-rtp-relay.service',
  ]);
});

it('systemd-analyze verify accepts every unit without a warning', async () => {
  const r = await run(systemdAnalyze(), ['verify', '--man=no', ...units], { cwd: systemdDir });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.code).toBe(0);
});

describe.each(units)('%s', (unit) => {
  const d = directives(join(systemdDir, unit));
  const one = (key: string): string | undefined => d.get(key)?.at(-1);

  it('runs one of the commands, restarted on failure', () => {
    const [env, command] = (one('ExecStart') ?? '').split(' ');
    expect(env).toBe('/usr/bin/env');
    expect(commands).toContain(command);
    expect(one('Restart')).toBe('on-failure');
  });

  it('runs sandboxed: dynamic user, read-only system, its own directories', () => {
    expect({
      DynamicUser: one('DynamicUser'),
      ProtectSystem: one('ProtectSystem'),
      ProtectHome: one('ProtectHome'),
      PrivateTmp: one('PrivateTmp'),
      NoNewPrivileges: one('NoNewPrivileges'),
      RestrictAddressFamilies: one('RestrictAddressFamilies'),
      SystemCallFilter: one('SystemCallFilter'),
      ConfigurationDirectory: one('ConfigurationDirectory'),
    }).toEqual({
      DynamicUser: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      NoNewPrivileges: 'yes',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      SystemCallFilter: '@system-service',
      ConfigurationDirectory: 'sipedge',
    });
    const name = unit.replace(/\.service$/, '');
    if (unit !== 'sipedge-rtp-relay.service') expect(one('StateDirectory')).toBe(name);
  });

  it('has a capability only where a listener may need a port below 1024', () => {
    if (unit === 'sipedge-cluster-node.service') {
      expect(one('AmbientCapabilities')).toBe('CAP_NET_BIND_SERVICE');
      expect(one('CapabilityBoundingSet')).toBe('CAP_NET_BIND_SERVICE');
    } else {
      expect(one('AmbientCapabilities')).toBeUndefined();
      expect(one('CapabilityBoundingSet')).toBe('');
    }
  });

  it('reloads with SIGHUP where the daemon re-reads its configuration', () => {
    const reload = d.get('ExecReload') ?? [];
    if (unit === 'sipedge-rtp-relay.service') expect(reload).toEqual([]);
    else expect(reload.at(-1)).toBe('/bin/kill -HUP $MAINPID');
  });

  it('systemd-analyze security rates its exposure 2.5 of 10 or lower', async () => {
    const r = await run(
      systemdAnalyze(),
      ['security', '--offline=yes', '--threshold=25', '--no-pager', unit],
      { cwd: systemdDir },
    );
    expect(r.stdout).toMatch(/Overall exposure level/);
    expect(r.code, r.stdout.split('\n').at(-2)).toBe(0);
  });
});

describe('docker', () => {
  const dockerfile = readFileSync(join(dockerDir, 'Dockerfile'), 'utf8');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('builds in stages and runs as an unprivileged user with a healthcheck', () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    const user = /^USER (\S+)$/m.exec(finalStage)?.[1];
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)$/);
    expect(finalStage).toMatch(
      /^HEALTHCHECK .*\n?.*CMD \["node", "\/opt\/sipedge\/healthcheck\.mjs"\]/m,
    );
    for (const [, source = ''] of dockerfile.matchAll(/^COPY (packaging\/\S+)/gm)) {
      expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
    }
  });

  it('compose runs the three-node example: its files exist, its commands are ours', () => {
    const compose = parse(readFileSync(join(dockerDir, 'compose.yaml'), 'utf8'), {
      merge: true,
    }) as { services: Record<string, { command?: string[]; volumes?: string[] }> };
    expect(Object.keys(compose.services).sort()).toEqual([
      'node1',
      'node2',
      'node3',
      'relay1',
      'relay2',
    ]);
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.command !== undefined) expect(commands, name).toContain(service.command[0]);
      for (const volume of service.volumes ?? []) {
        const [source = ''] = volume.split(':');
        if (source.startsWith('.'))
          expect(existsSync(resolve(dockerDir, source)), source).toBe(true);
      }
    }
  });

  describe('healthcheck.mjs', () => {
    const token = 'a-token-of-sixteen-chars';
    let server: MiServer;
    beforeAll(async () => {
      const mi = createMiCore({ version: '0.0.0' });
      server = new MiServer({ registry: mi.registry, stats: mi.stats, port: 0, token });
      await server.start();
    });
    afterAll(() => server?.stop());
    const check = (env: Record<string, string>) =>
      run(process.execPath, [join(dockerDir, 'healthcheck.mjs')], {
        cwd: dockerDir,
        env: cleanNpmEnv(env),
      });

    it('exits 0 when MI answers uptime', async () => {
      const r = await check({ SIPEDGE_MI_URL: server.url, SIPEDGE_MI_TOKEN: token });
      expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    });

    it('exits 1 when MI refuses it or is not there', async () => {
      expect((await check({ SIPEDGE_MI_URL: server.url })).code).toBe(1);
      const closed = server.url.replace(/:\d+\//, ':1/');
      const r = await check({ SIPEDGE_MI_URL: closed, SIPEDGE_MI_TOKEN: token });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^MI http:\/\/127\.0\.0\.1:1\/mi: /);
    });
  });
});
