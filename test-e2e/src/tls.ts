/**
 * TLS for e2e tests: a cluster CA and node certificates made at test time (openssl, in the
 * cluster's temp dir), the `tls` config section pointing at them, `openssl s_client` to look at
 * what a listener serves, and stunnel in front of sipp (Debian's sipp is built without TLS,
 * so `-t l1` is not available: sipp speaks TCP to a local stunnel, stunnel speaks TLS).
 */

import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import {
  makeTestCa,
  makeTestCertificate,
  OPENSSL,
  type Proc,
  peerPort,
  runProcess,
  type TestCa,
  type TestCertificate,
  until,
} from '@sipedge/test-utils';
import { stopOnExit } from './processes.js';

export const STUNNEL = '/usr/bin/stunnel';

/** A CA and one certificate per node name (`n1`…), all for 127.0.0.1. */
export interface ClusterPki {
  readonly ca: TestCa;
  readonly certs: Map<string, TestCertificate>;
  /** The `tls` section for `name`: its certificate and key, the CA as `ca_list`. */
  section(name: string): { certificate: string; private_key: string; ca_list: string };
  /** Makes (or renews) the certificate of `name`. */
  issue(name: string): TestCertificate;
}

export function makeClusterPki(dir: string, names: string[], caName = 'cluster-ca'): ClusterPki {
  const ca = makeTestCa(dir, caName);
  const certs = new Map<string, TestCertificate>();
  const pki: ClusterPki = {
    ca,
    certs,
    section(name) {
      const c = certs.get(name) ?? pki.issue(name);
      return { certificate: c.certificate, private_key: c.privateKey, ca_list: ca.certificate };
    },
    issue(name) {
      const c = makeTestCertificate(ca, name);
      certs.set(name, c);
      return c;
    },
  };
  for (const n of names) pki.issue(n);
  return pki;
}

/** What `openssl s_client` saw of a TLS listener. */
export interface SClientResult {
  /** The handshake completed and the chain verified against `caFile` (`Verify return code: 0`). */
  readonly verified: boolean;
  readonly subject: string;
  readonly fingerprint256: string;
  readonly output: string;
}

/** Runs `openssl s_client` against `127.0.0.1:port`, verifying with `caFile`. */
export function sClient(
  port: number,
  caFile: string,
  extra: string[] = [],
): Promise<SClientResult> {
  if (!existsSync(OPENSSL)) throw new Error(`${OPENSSL} is missing: apt-get install openssl`);
  return new Promise((resolve) => {
    const child = execFile(
      OPENSSL,
      ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', caFile, ...extra],
      { timeout: 10_000 },
      (_err, stdout, stderr) => {
        const output = `${stdout}\n${stderr}`;
        const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout);
        const cert = pem === null ? undefined : new X509Certificate(pem[0]);
        resolve({
          verified: /Verify return code: 0 \(ok\)/.test(stdout),
          subject: cert?.subject ?? '',
          fingerprint256: cert?.fingerprint256 ?? '',
          output,
        });
      },
    );
    child.stdin?.end();
  });
}

/** The SHA-256 fingerprint of a PEM certificate file. */
export function fingerprintOf(pem: string): string {
  return new X509Certificate(readFileSync(pem, 'utf8')).fingerprint256;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitTcpListening(port: number, ms = 10_000): Promise<void> {
  await until(
    () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
    { what: `a listener on tcp 127.0.0.1:${port}`, timeoutMs: ms, intervalMs: 50 },
  );
}

/**
 * stunnel, one service: `client` accepts plain TCP on a fresh local port and opens TLS to
 * `connect`, verifying its certificate against `caFile` for 127.0.0.1; a server (`cert`)
 * accepts TLS on a fresh port and forwards plain TCP to `connect`. Resolves once it listens.
 */
export async function startStunnel(
  dir: string,
  name: string,
  o: { connect: number; caFile: string; cert?: TestCertificate },
): Promise<{ proc: Proc; port: number }> {
  if (!existsSync(STUNNEL)) throw new Error(`${STUNNEL} is missing: apt-get install stunnel4`);
  const port = await peerPort();
  const conf = join(dir, `${name}.stunnel.conf`);
  const lines = [
    'foreground = yes',
    'pid =',
    'debug = 4',
    `[${name}]`,
    `accept = 127.0.0.1:${port}`,
    `connect = 127.0.0.1:${o.connect}`,
    `CAfile = ${o.caFile}`,
  ];
  if (o.cert === undefined) {
    lines.push('client = yes', 'verifyChain = yes', 'checkIP = 127.0.0.1');
  } else {
    lines.push(`cert = ${o.cert.certificate}`, `key = ${o.cert.privateKey}`);
  }
  writeFileSync(conf, `${lines.join('\n')}\n`);
  const proc = runProcess(STUNNEL, [conf], { cwd: dir });
  stopOnExit(proc);
  await waitTcpListening(port).catch(async (err: Error) => {
    await proc.stop();
    throw new Error(`${err.message}\nstunnel said:\n${proc.output()}`);
  });
  return { proc, port };
}
