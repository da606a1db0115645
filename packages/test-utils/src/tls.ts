/**
 * Certificates made by a test, with Debian's `openssl`: a CA and certificates it signs for
 * loopback names, written to a directory the test owns (usually a temp dir removed after).
 * EC P-256 keys, valid two days; nothing here is ever committed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const OPENSSL = '/usr/bin/openssl';

/** Files of one certificate: `<name>.pem` (certificate) and `<name>.key` (its private key). */
export interface TestCertificate {
  readonly name: string;
  readonly certificate: string;
  readonly privateKey: string;
}

/** A CA: its certificate is what peers put in their `ca_list`. */
export interface TestCa extends TestCertificate {
  readonly dir: string;
}

function openssl(args: string[], cwd: string): void {
  if (!existsSync(OPENSSL)) throw new Error(`${OPENSSL} is missing: apt-get install openssl`);
  execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed CA named `name` in `dir` (`<name>.pem`, `<name>.key`). */
export function makeTestCa(dir: string, name = 'test-ca'): TestCa {
  const certificate = join(dir, `${name}.pem`);
  const privateKey = join(dir, `${name}.key`);
  openssl(
    [
      'req',
      '-x509',
      ...KEY,
      '-keyout',
      privateKey,
      '-out',
      certificate,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return { name, dir, certificate, privateKey };
}

/**
 * A certificate for `name` signed by `ca`, for servers and clients alike, with subject
 * alternative names for `ips` (default 127.0.0.1) and `dns` (default `name` and localhost).
 * A second call for the same name replaces the files (a renewed certificate, new serial).
 */
export function makeTestCertificate(
  ca: TestCa,
  name: string,
  options: { ips?: string[]; dns?: string[] } = {},
): TestCertificate {
  const { dir } = ca;
  const certificate = join(dir, `${name}.pem`);
  const privateKey = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const san = [
    ...(options.ips ?? ['127.0.0.1']).map((ip) => `IP:${ip}`),
    ...(options.dns ?? [name, 'localhost']).map((d) => `DNS:${d}`),
  ];
  writeFileSync(
    ext,
    [
      `subjectAltName=${san.join(',')}`,
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth,clientAuth',
      '',
    ].join('\n'),
  );
  openssl(['req', ...KEY, '-keyout', privateKey, '-out', csr, '-subj', `/CN=${name}`], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.certificate,
      '-CAkey',
      ca.privateKey,
      '-set_serial',
      `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      certificate,
    ],
    dir,
  );
  return { name, certificate, privateKey };
}
