import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { makeTestCa, makeTestCertificate, type TestCa } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTlsMaterial, TlsConfigError, type TlsMaterial } from './tls.js';

let dir: string;
let ca: TestCa;
let otherCa: TestCa;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sipedge-core-tls-'));
  ca = makeTestCa(dir, 'ca');
  otherCa = makeTestCa(dir, 'other-ca');
  makeTestCertificate(ca, 'server');
  makeTestCertificate(ca, 'client');
  makeTestCertificate(otherCa, 'stranger');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const f = (name: string) => join(dir, name);
const settingsOf = (name: string) => ({
  certificate: f(`${name}.pem`),
  privateKey: f(`${name}.key`),
  caList: f('ca.pem'),
});

function refusal(run: () => unknown): TlsConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof TlsConfigError) return err;
    throw err;
  }
  throw new Error('no TlsConfigError');
}

describe('loadTlsMaterial: bad files are refused by name', () => {
  it('an unreadable file', () => {
    const e = refusal(() =>
      loadTlsMaterial({ ...settingsOf('server'), certificate: f('nope.pem') }),
    );
    expect(e.code).toBe('CORE_TLS_FILE');
    expect(e.file).toBe(f('nope.pem'));
    expect(e.message).toContain('cannot read the certificate');
  });

  it('a certificate file without a PEM certificate', () => {
    writeFileSync(f('junk.pem'), 'not a certificate\n');
    const e = refusal(() =>
      loadTlsMaterial({ ...settingsOf('server'), certificate: f('junk.pem') }),
    );
    expect(e.code).toBe('CORE_TLS_PEM');
    expect(e.message).toContain('holds no PEM certificate');
  });

  it('a PEM certificate whose body is damaged', () => {
    writeFileSync(
      f('damaged.pem'),
      '-----BEGIN CERTIFICATE-----\nMIIBAAAAAAAA\n-----END CERTIFICATE-----\n',
    );
    const e = refusal(() => loadTlsMaterial({ ...settingsOf('server'), caList: f('damaged.pem') }));
    expect(e.code).toBe('CORE_TLS_PEM');
    expect(e.message).toContain('CA list');
  });

  it('a key file that holds a certificate, and a key of another certificate', () => {
    const asKey = refusal(() =>
      loadTlsMaterial({ ...settingsOf('server'), privateKey: f('server.pem') }),
    );
    expect(asKey.code).toBe('CORE_TLS_PEM');
    const other = refusal(() =>
      loadTlsMaterial({ ...settingsOf('server'), privateKey: f('client.key') }),
    );
    expect(other.code).toBe('CORE_TLS_KEY_MISMATCH');
    expect(other.file).toBe(f('client.key'));
  });

  it('a listener without a certificate, a certificate without a key, an unknown cipher list', () => {
    expect(refusal(() => loadTlsMaterial({ caList: f('ca.pem') })).code).toBe(
      'CORE_TLS_NO_CERTIFICATE',
    );
    expect(refusal(() => loadTlsMaterial({ certificate: f('server.pem') })).code).toBe(
      'CORE_TLS_NO_CERTIFICATE',
    );
    expect(
      refusal(() => loadTlsMaterial({ ...settingsOf('server'), ciphers: 'NO-SUCH-CIPHER' })).code,
    ).toBe('CORE_TLS_SETTINGS');
  });

  it('a client may go without a certificate', () => {
    const m = loadTlsMaterial({ caList: f('ca.pem') }, { server: false });
    expect(m.certificate).toBeUndefined();
    expect(m.client.rejectUnauthorized).toBe(true);
    expect(m.client.minVersion).toBe('TLSv1.2');
  });

  it('describes the certificate for logs', () => {
    const m = loadTlsMaterial(settingsOf('server'));
    expect(m.certificate?.subject).toBe('CN=server');
    expect(m.certificate?.issuer).toBe('CN=ca');
    expect(m.certificate?.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });
});

/** A TLS server on loopback with `server` options; resolves its port. */
async function listen(material: TlsMaterial): Promise<{ server: Server; port: number }> {
  const server = createServer(material.server, (s) => s.end('hello\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Connects with `client` options: 'ok' when data arrives, else the error's code or message. */
function dial(port: number, material: TlsMaterial): Promise<string> {
  return new Promise((resolve) => {
    const s: TLSSocket = connect({ ...material.client, host: '127.0.0.1', port });
    s.once('data', () => {
      s.destroy();
      resolve('ok');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    s.once('close', () => resolve('closed'));
  });
}

describe('verify modes on real handshakes', () => {
  const client = (name: string | undefined, verifyServer = true) =>
    loadTlsMaterial(
      { ...(name === undefined ? {} : settingsOf(name)), caList: f('ca.pem'), verifyServer },
      { server: false },
    );

  it('none: a client without a certificate is served', async () => {
    const { server, port } = await listen(loadTlsMaterial(settingsOf('server')));
    try {
      expect(await dial(port, client(undefined))).toBe('ok');
    } finally {
      server.close();
    }
  });

  it('required: no certificate or one from another CA is refused; ours is served', async () => {
    const { server, port } = await listen(
      loadTlsMaterial({ ...settingsOf('server'), verifyClient: 'required' }),
    );
    const refused: string[] = [];
    server.on('tlsClientError', (err) => refused.push(err.message));
    try {
      expect(await dial(port, client(undefined))).not.toBe('ok');
      expect(await dial(port, client('stranger'))).not.toBe('ok');
      expect(await dial(port, client('client'))).toBe('ok');
      expect(refused).toHaveLength(2);
    } finally {
      server.close();
    }
  });

  it('optional: every client is served, only ours is authorized', async () => {
    const authorized: boolean[] = [];
    const m = loadTlsMaterial({ ...settingsOf('server'), verifyClient: 'optional' });
    const server = createServer(m.server, (s) => {
      authorized.push(s.authorized);
      s.end('hello\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await dial(port, client(undefined))).toBe('ok');
      expect(await dial(port, client('stranger'))).toBe('ok');
      expect(await dial(port, client('client'))).toBe('ok');
      expect(authorized).toEqual([false, false, true]);
    } finally {
      server.close();
    }
  });

  it('a client refuses a server from another CA unless verifyServer is false', async () => {
    const { server, port } = await listen(loadTlsMaterial(settingsOf('stranger')));
    try {
      expect(await dial(port, client(undefined))).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(await dial(port, client(undefined, false))).toBe('ok');
    } finally {
      server.close();
    }
  });

  it('TLSv1.3 as minimum refuses a TLSv1.2-only client', async () => {
    const { server, port } = await listen(
      loadTlsMaterial({ ...settingsOf('server'), minVersion: 'TLSv1.3' }),
    );
    try {
      const old = client(undefined);
      expect(
        await dial(port, { ...old, client: { ...old.client, maxVersion: 'TLSv1.2' } }),
      ).not.toBe('ok');
      expect(await dial(port, old)).toBe('ok');
    } finally {
      server.close();
    }
  });

  it('setSecureContext with re-read files serves the new certificate to new connections', async () => {
    const m = loadTlsMaterial(settingsOf('server'));
    const server = createHttpsServer(m.server, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const seen = () =>
      new Promise<string>((resolve, reject) => {
        const s = connect({ ...client(undefined).client, host: '127.0.0.1', port }, () => {
          resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
          s.destroy();
        });
        s.once('error', reject);
      });
    try {
      expect(await seen()).toBe(m.certificate?.fingerprint256);
      makeTestCertificate(ca, 'server');
      const renewed = loadTlsMaterial(settingsOf('server'));
      expect(renewed.certificate?.fingerprint256).not.toBe(m.certificate?.fingerprint256);
      server.setSecureContext(renewed.server);
      expect(await seen()).toBe(renewed.certificate?.fingerprint256);
    } finally {
      server.close();
    }
  });
});
