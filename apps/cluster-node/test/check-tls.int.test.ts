/**
 * `cluster-node --check` refuses TLS that cannot work: a `bins:` listener or neighbour without
 * a certificate, a certificate file that is not PEM (exit 2, the key or file named).
 * Needs the bin built: `npx tsc -b apps/cluster-node`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestCa, makeTestCertificate } from '@sipedge/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'cluster-node-check-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function check(config: Record<string, unknown>) {
  const f = join(dir, 'node.yaml');
  writeFileSync(f, stringify(config));
  return runCli(['--config', f, '--check']);
}

const bins = (tls?: Record<string, unknown>) => ({
  node: { id: 1 },
  clusterer: {
    listen: 'bins:127.0.0.1:5561',
    neighbours: [{ node_id: 2, url: 'bins:127.0.0.1:5562' }],
  },
  ...(tls === undefined ? {} : { tls }),
});

describe('--check and TLS', () => {
  it('refuses bins: without a certificate, naming the key', async () => {
    const r = await check(bins());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'clusterer.listen: the bins: listener bins:127.0.0.1:5561 needs a certificate: set tls.certificate and tls.private_key',
    );
  });

  it('refuses a certificate file that is not PEM, naming the file; accepts good files', async () => {
    const ca = makeTestCa(dir, 'ca');
    makeTestCertificate(ca, 'n1');
    writeFileSync(join(dir, 'junk.pem'), 'junk\n');
    const bad = await check(
      bins({ certificate: 'junk.pem', private_key: 'n1.key', ca_list: 'ca.pem' }),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      `tls: the certificate ${join(dir, 'junk.pem')} holds no PEM certificate`,
    );
    const good = await check(
      bins({ certificate: 'n1.pem', private_key: 'n1.key', ca_list: 'ca.pem' }),
    );
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
  });
});
