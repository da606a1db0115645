import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TlsConfigError } from '@sipedge/core';
import { makeTestCa, makeTestCertificate, type TestCa } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeConfigError, parseNodeConfig } from './config.js';
import { tlsSettingsFor } from './tls-config.js';
import { NodeTls } from './wiring/tls.js';

let dir: string;
let ca: TestCa;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cluster-node-tls-'));
  ca = makeTestCa(dir, 'ca');
  makeTestCertificate(ca, 'node1');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = (extra: Record<string, unknown> = {}) => ({
  node: { id: 1 },
  clusterer: { listen: 'bin:127.0.0.1:5561' },
  ...extra,
});
const certs = { certificate: 'node1.pem', private_key: 'node1.key', ca_list: 'ca.pem' };

function problems(input: unknown): readonly string[] {
  try {
    parseNodeConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(NodeConfigError);
    return (err as NodeConfigError).problems;
  }
  throw new Error('config was accepted');
}

describe('tls configuration', () => {
  it('a TLS listener, a bins: listener or neighbour, HTTPS: refused without a certificate, by key', () => {
    expect(
      problems(base({ sip: { listeners: [{ proto: 'tls', address: '127.0.0.1:5061' }] } })),
    ).toEqual([
      'sip.listeners: a tls/wss listener needs a certificate: set tls.certificate and tls.private_key (or sip.tls.certificate and sip.tls.private_key)',
    ]);
    expect(problems(base({ clusterer: { listen: 'bins:127.0.0.1:5561' } }))[0]).toMatch(
      /^clusterer\.listen: the bins: listener bins:127\.0\.0\.1:5561 needs a certificate/,
    );
    expect(
      problems(
        base({
          clusterer: {
            listen: 'bin:127.0.0.1:5561',
            neighbours: [{ node_id: 2, url: 'bins:127.0.0.1:5562' }],
          },
        }),
      )[0],
    ).toMatch(
      /^clusterer\.neighbours: the bins: neighbour bins:127\.0\.0\.1:5562 needs a certificate/,
    );
    expect(problems(base({ mi: { tls: true } }))[0]).toMatch(/^mi\.tls: HTTPS for mi needs/);
    expect(problems(base({ metrics: { tls: {} } }))[0]).toMatch(/^metrics\.tls: HTTPS for metrics/);
    // metrics off: its tls is not used
    expect(() => parseNodeConfig(base({ metrics: { enabled: false, tls: true } }))).not.toThrow();
    expect(problems(base({ tls: { verify_client: 'sometimes' } }))[0]).toMatch(
      /^tls\.verify_client: /,
    );
    expect(problems(base({ tls: { certificat: 'x' } }))[0]).toBe('tls.certificat: unknown key');
  });

  it('a section override wins over the top level; BIN asks for client certificates by default', () => {
    const c = parseNodeConfig(
      base({
        tls: { ...certs, min_version: 'TLSv1.3' },
        sip: {
          listeners: [{ proto: 'wss', address: '127.0.0.1:0' }],
          tls: { verify_client: 'optional', certificate: '/etc/sip.pem', private_key: 'sip.key' },
        },
        clusterer: { listen: 'bins:127.0.0.1:0' },
        mi: { tls: true },
      }),
    );
    const at = (p: string) => `/cfg/${p}`;
    expect(tlsSettingsFor(c, 'sip', (p) => (p.startsWith('/') ? p : at(p)))).toEqual({
      certificate: '/etc/sip.pem',
      privateKey: '/cfg/sip.key',
      caList: '/cfg/ca.pem',
      minVersion: 'TLSv1.3',
      verifyClient: 'optional',
      verifyServer: true,
    });
    expect(tlsSettingsFor(c, 'clusterer')?.verifyClient).toBe('required');
    expect(tlsSettingsFor(c, 'mi')?.verifyClient).toBe('none');
    expect(tlsSettingsFor(c, 'metrics')).toBeUndefined();
  });

  it('defaults: no TLS anywhere, plain HTTP for MI and metrics', () => {
    const c = parseNodeConfig(base());
    expect(c.tls).toEqual({});
    expect(c.mi.tls).toBe(false);
    expect(c.metrics.tls).toBe(false);
  });
});

describe('NodeTls', () => {
  const configFile = () => join(dir, 'node.yaml');
  const tlsConfig = () =>
    parseNodeConfig(
      base({
        tls: certs,
        sip: { listeners: [{ proto: 'tls', address: '127.0.0.1:0' }] },
        mi: { tls: true },
      }),
    );

  it('reads the files relative to the config file; SIP, MI use TLS, BIN does not', () => {
    const t = new NodeTls(tlsConfig(), configFile());
    expect(t.material('sip')?.certificate?.subject).toBe('CN=node1');
    expect(t.material('mi')?.server.requestCert).toBe(false);
    expect(t.material('clusterer')).toBeUndefined();
    expect(t.material('metrics')).toBeUndefined();
  });

  it('a bad file is refused by name at start; on reload nothing changes', () => {
    const t = new NodeTls(tlsConfig(), configFile());
    const applied: string[] = [];
    t.onReload('sip', (m) => applied.push(m.certificate?.fingerprint256 ?? ''));
    const first = t.material('sip')?.certificate?.fingerprint256;
    const log = { info: () => {} } as never;

    makeTestCertificate(ca, 'node1');
    expect(t.reload(log)).toEqual(['tls.sip']);
    expect(applied).toHaveLength(1);
    expect(applied[0]).not.toBe(first);

    writeFileSync(join(dir, 'node1.pem'), 'garbage');
    expect(() => t.reload(log)).toThrow(TlsConfigError);
    expect(applied).toHaveLength(1);
    expect(t.material('sip')?.certificate?.fingerprint256).toBe(applied[0]);
    expect(() => new NodeTls(tlsConfig(), configFile())).toThrow(/node1\.pem holds no PEM/);
    makeTestCertificate(ca, 'node1');
  });
});
