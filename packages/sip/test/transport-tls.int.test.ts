/**
 * SIP over TLS with certificates a test CA signs: outbound connections verify the server with
 * the configured CA list, a failed handshake is counted, and renewed certificates reach new
 * connections on TLS and WSS listeners.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { loadTlsMaterial, type TlsMaterial } from '@sipedge/core';
import { makeTestCa, makeTestCertificate, type TestCa, until } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Endpoint, parseMessage, type SipMessage, SipTransports } from '../src/index.js';

let dir: string;
let ca: TestCa;
let otherCa: TestCa;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sip-tls-ca-'));
  ca = makeTestCa(dir, 'ca');
  otherCa = makeTestCa(dir, 'other-ca');
  makeTestCertificate(ca, 'edge');
  makeTestCertificate(otherCa, 'stranger');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const material = (name: string): TlsMaterial =>
  loadTlsMaterial({
    certificate: join(dir, `${name}.pem`),
    privateKey: join(dir, `${name}.key`),
    caList: ca.certificate,
  });
const clientOf = (verifyServer = true): TlsMaterial =>
  loadTlsMaterial({ caList: ca.certificate, verifyServer }, { server: false });

function options(branch: string): SipMessage {
  return parseMessage(
    Buffer.from(
      `OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/TLS h.example.com;branch=${branch}\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: ${branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    ),
  );
}

function transports(tlsClient?: TlsMaterial): {
  t: SipTransports;
  got: Array<[SipMessage, Endpoint]>;
} {
  const got: Array<[SipMessage, Endpoint]> = [];
  const t = new SipTransports({
    onMessage: (m, from) => got.push([m, from]),
    ...(tlsClient === undefined ? {} : { tlsClient: tlsClient.client }),
  });
  return { t, got };
}

describe('SIP over TLS with a CA', () => {
  it('send() to a TLS target verifies the server with the CA list', async () => {
    const server = transports();
    const good = await server.t.listenTls('127.0.0.1', 0, material('edge').server);
    const other = transports();
    const bad = await other.t.listenTls('127.0.0.1', 0, material('stranger').server);
    const client = transports(clientOf());
    const lax = transports(clientOf(false));
    try {
      const to = (port: number): Endpoint => ({ transport: 'TLS', address: '127.0.0.1', port });
      await client.t.send(options('z9hG4bKgood'), to(good.port));
      await until(() => server.got.length === 1, { what: 'the OPTIONS over verified TLS' });
      expect(server.got[0]?.[1].transport).toBe('TLS');

      await expect(client.t.send(options('z9hG4bKbad'), to(bad.port))).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
      await until(() => other.t.counters.tlsHandshakeErrors === 1, {
        what: 'the refused handshake counted by the server',
      });
      expect(other.got).toHaveLength(0);

      await lax.t.send(options('z9hG4bKlax'), to(bad.port));
      await until(() => other.got.length === 1, { what: 'the OPTIONS without verification' });
    } finally {
      for (const x of [server, other, client, lax]) await x.t.close();
    }
  });

  it('setSecureContext: TLS and WSS listeners serve a renewed certificate to new connections', async () => {
    const edge = transports();
    const first = material('edge');
    const t = await edge.t.listenTls('127.0.0.1', 0, first.server);
    const w = await edge.t.listenWs('127.0.0.1', 0, first.server);
    const served = (port: number): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ ...clientOf().client, host: '127.0.0.1', port }, () => {
          resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
          s.destroy();
        });
        s.once('error', reject);
      });
    try {
      expect(await served(t.port)).toBe(first.certificate?.fingerprint256);
      expect(await served(w.port)).toBe(first.certificate?.fingerprint256);
      makeTestCertificate(ca, 'edge');
      const renewed = material('edge');
      edge.t.setSecureContext(renewed.server, clientOf().client);
      expect(await served(t.port)).toBe(renewed.certificate?.fingerprint256);
      expect(await served(w.port)).toBe(renewed.certificate?.fingerprint256);
      expect(renewed.certificate?.fingerprint256).not.toBe(first.certificate?.fingerprint256);
    } finally {
      await edge.t.close();
    }
  });
});
