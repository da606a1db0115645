/** The MI over HTTPS and WSS with certificates a test CA signs, and a certificate renewal. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { loadTlsMaterial } from '@sipedge/core';
import { makeTestCa, makeTestCertificate, type TestCa } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiClient } from '../src/client/client.js';
import { MiTransportError } from '../src/errors.js';
import { live } from './helpers.js';

let dir: string;
let ca: TestCa;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sipedge-mi-https-'));
  ca = makeTestCa(dir, 'ca');
  makeTestCertificate(ca, 'mi');
  makeTestCertificate(ca, 'operator');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const material = (verifyClient: 'none' | 'required' = 'none') =>
  loadTlsMaterial({
    certificate: join(dir, 'mi.pem'),
    privateKey: join(dir, 'mi.key'),
    caList: ca.certificate,
    verifyClient,
  });

describe('MI over HTTPS', () => {
  it('answers over https:// and wss:// for a client that trusts the CA; others fail the handshake', async () => {
    await using mi = await live({ tls: material().server });
    expect(mi.server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/mi$/);
    expect(mi.server.wsUrl).toMatch(/^wss:\/\//);
    const trusted = { ca: caPem() };
    const http = new MiClient({ url: mi.server.url, tls: trusted });
    const ws = new MiClient({ url: mi.server.wsUrl, tls: trusted });
    try {
      expect(await http.call('sr_get_status', ['core'])).toMatchObject({ Readiness: true });
      expect(await ws.call('sr_get_status', ['core'])).toMatchObject({ Readiness: true });
    } finally {
      http.close();
      ws.close();
    }
    const stranger = new MiClient({ url: mi.server.url });
    try {
      const err = await stranger.call('sr_get_status', ['core']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MiTransportError);
      expect((err as Error).message).toContain('self-signed certificate in certificate chain');
    } finally {
      stranger.close();
    }
  });

  it('verify_client required: only a client with a certificate of the CA is served', async () => {
    await using mi = await live({ tls: material('required').server });
    const withCert = new MiClient({
      url: mi.server.url,
      tls: { ca: caPem(), ...clientPair('operator') },
    });
    const without = new MiClient({ url: mi.server.url, tls: { ca: caPem() } });
    try {
      expect(await withCert.call('sr_get_status', ['core'])).toMatchObject({ Readiness: true });
      await expect(without.call('sr_get_status', ['core'])).rejects.toBeInstanceOf(
        MiTransportError,
      );
    } finally {
      withCert.close();
      without.close();
    }
  });

  it('setSecureContext serves a renewed certificate to new connections; plain HTTP refuses it', async () => {
    await using mi = await live({ tls: material().server });
    const served = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const u = new URL(mi.server.url);
        const s = tls.connect({ host: u.hostname, port: Number(u.port), ca: caPem() }, () => {
          resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
          s.destroy();
        });
        s.once('error', reject);
      });
    const first = await served();
    makeTestCertificate(ca, 'mi');
    const renewed = material();
    expect(renewed.certificate?.fingerprint256).not.toBe(first);
    mi.server.setSecureContext(renewed.server);
    expect(await served()).toBe(renewed.certificate?.fingerprint256);

    await using plain = await live();
    expect(() => plain.server.setSecureContext(renewed.server)).toThrow(/plain HTTP/);
  });
});

function caPem(): string {
  return loadTlsMaterial({ caList: ca.certificate }, { server: false }).client.ca as string;
}

function clientPair(name: string): { cert: string; key: string } {
  const m = loadTlsMaterial(
    { certificate: join(dir, `${name}.pem`), privateKey: join(dir, `${name}.key`) },
    { server: false },
  );
  return { cert: m.client.cert as string, key: m.client.key as string };
}
