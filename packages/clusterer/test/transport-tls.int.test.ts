/**
 * `bins:` with certificates a test CA signs: nodes present certificates both ways, a node from
 * another CA is refused (counted, logged once per host and minute), and renewed certificates
 * reach new connections through setSecureContext.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { loadTlsMaterial } from '@sipedge/core';
import { makeTestCa, makeTestCertificate, type TestCa, until } from '@sipedge/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodePacket } from '../src/bin/packet.js';
import { type BinTlsOptions, TcpBinTransport } from '../src/transport/tcp.js';

let dir: string;
let ca: TestCa;
let otherCa: TestCa;
const open: TcpBinTransport[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sipedge-bins-'));
  ca = makeTestCa(dir, 'ca');
  otherCa = makeTestCa(dir, 'other-ca');
  for (const n of ['n1', 'n2']) makeTestCertificate(ca, n);
  makeTestCertificate(otherCa, 'intruder');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

/** Mutual TLS as cluster-node sets it up for `bins:`: verify both ways against `caOf`. */
function tlsOf(name: string, caOf: TestCa = ca): { server: BinTlsOptions; fingerprint: string } {
  const m = loadTlsMaterial({
    certificate: join(dir, `${name}.pem`),
    privateKey: join(dir, `${name}.key`),
    caList: caOf.certificate,
    verifyClient: 'required',
  });
  return {
    server: m.server as BinTlsOptions,
    fingerprint: m.certificate?.fingerprint256 ?? '',
  };
}

const ping = (src: number): Buffer =>
  encodePacket({ kind: 'ping', cluster: 1, src, reqNodeList: true });

function logs(): { lines: Array<Record<string, unknown>>; logger: never } {
  const lines: Array<Record<string, unknown>> = [];
  const push = (obj: Record<string, unknown>, msg?: string) => lines.push({ ...obj, msg });
  return {
    lines,
    logger: { debug: () => {}, info: () => {}, warn: push, error: push } as never,
  };
}

async function endpoint(
  name: string,
  caOf: TestCa = ca,
): Promise<{ t: TcpBinTransport; port: number; got: Buffer[]; log: ReturnType<typeof logs> }> {
  const log = logs();
  const t = new TcpBinTransport({
    listen: { proto: 'bins', host: '127.0.0.1', port: 0 },
    tls: tlsOf(name, caOf).server,
    logger: log.logger,
  });
  open.push(t);
  const got: Buffer[] = [];
  t.setHandler({ onPacket: (p) => got.push(p) });
  const a = await t.listen();
  return { t, port: a.port, got, log };
}

describe('bins: with a cluster CA', () => {
  it('two nodes of the CA talk; a node of another CA is refused on both sides, logged once', async () => {
    const n1 = await endpoint('n1');
    const n2 = await endpoint('n2');
    n1.t.send({ proto: 'bins', host: '127.0.0.1', port: n2.port }, ping(1));
    await until(() => n2.got.length === 1, { what: 'n2 to get the packet over TLS' });

    const intruder = await endpoint('intruder', otherCa);
    for (let i = 0; i < 3; i++) {
      intruder.t.send({ proto: 'bins', host: '127.0.0.1', port: n2.port }, ping(9));
      await until(() => (n2.t.counters.get('tls_inbound_refused') ?? 0) > i, {
        what: `n2 to refuse the intruder (${i + 1})`,
      });
    }
    n2.t.send({ proto: 'bins', host: '127.0.0.1', port: intruder.port }, ping(2));
    await until(() => (n2.t.counters.get('tls_outbound_refused') ?? 0) >= 1, {
      what: 'n2 to refuse the intruder as a server',
    });
    expect(n2.got).toHaveLength(1);
    expect(intruder.got).toHaveLength(0);
    const refusals = n2.log.lines.filter((l) => l.msg === 'BIN TLS handshake refused');
    // three refused handshakes in, one out, from one host: one line per host and minute
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ host: '127.0.0.1', side: 'inbound' });
  });

  it('setSecureContext: new connections see the renewed certificate', async () => {
    const n1 = await endpoint('n1');
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const m = loadTlsMaterial(
          {
            certificate: join(dir, 'n2.pem'),
            privateKey: join(dir, 'n2.key'),
            caList: ca.certificate,
          },
          { server: false },
        );
        const s = tls.connect({ ...m.client, host: '127.0.0.1', port: n1.port }, () => {
          resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
          s.destroy();
        });
        s.once('error', reject);
      });
    const before = tlsOf('n1').fingerprint;
    expect(await served()).toBe(before);
    makeTestCertificate(ca, 'n1');
    const renewed = tlsOf('n1');
    expect(renewed.fingerprint).not.toBe(before);
    n1.t.setSecureContext(renewed.server);
    expect(await served()).toBe(renewed.fingerprint);
  });
});
