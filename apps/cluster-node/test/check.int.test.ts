/**
 * `cluster-node --check` on the shipped examples and on bad configurations (exit 2, key named).
 * Needs the bin built: `npx tsc -b apps/cluster-node`.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EXAMPLES, runCli } from './cli.js';

const threeNodes = join(EXAMPLES, 'three-nodes');

describe('examples/three-nodes', () => {
  const files = readdirSync(threeNodes)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

  it('holds node1.yaml … node3.yaml', () => {
    expect(files).toEqual(['node1.yaml', 'node2.yaml', 'node3.yaml']);
  });

  for (const f of ['node1.yaml', 'node2.yaml', 'node3.yaml']) {
    it(`${f} passes --check`, async () => {
      const r = await runCli(['--config', join(threeNodes, f), '--check']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/configuration OK/);
    });
  }

  it('uses the fixed addresses examples/three-nodes/README.md lists', () => {
    for (const n of [1, 2, 3]) {
      const c = parse(readFileSync(join(threeNodes, `node${n}.yaml`), 'utf8'));
      expect(c.node.id).toBe(n);
      expect(c.sip.listeners).toEqual([
        { proto: 'udp', address: `127.0.0.1:506${n}` },
        { proto: 'tcp', address: `127.0.0.1:506${n}` },
      ]);
      expect([c.mi.host, c.mi.port, c.mi.root]).toEqual(['127.0.0.1', 8880 + n, '/mi']);
      expect(c.clusterer.listen).toBe(`bin:127.0.0.1:556${n}`);
      expect(c.clusterer.neighbours.map((x: { url: string }) => x.url).sort()).toEqual(
        [1, 2, 3].filter((m) => m !== n).map((m) => `bin:127.0.0.1:556${m}`),
      );
      expect(c.ha.service_address).toBe('127.0.0.100:5060');
      // node 1 starts active for the tag, the others backup
      expect(c.ha.sharing_tag).toBe(n === 1 ? 'vip/1=active' : 'vip/1');
      expect(c.rtp.relays.map((r: { socket: string }) => r.socket)).toEqual([
        'udp:127.0.0.1:22221',
        'udp:127.0.0.1:22222',
      ]);
    }
  });
});

describe('bad configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-node-check-'));

  it('exits 2 naming the key', async () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(
      f,
      'node: { id: 1 }\nclusterer: { listen: "bin:127.0.0.1:5561", ping_timeout: -5 }\n',
    );
    const r = await runCli(['--config', f, '--check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/clusterer\.ping_timeout: /);
  });

  it('exits 2 naming the environment variable', async () => {
    const f = join(dir, 'good.yaml');
    writeFileSync(f, 'node: { id: 1 }\nclusterer: { listen: "bin:127.0.0.1:5561" }\n');
    const ok = await runCli(['--config', f, '--check']);
    expect(ok.code).toBe(0);
    const r = await runCli(['--config', f, '--check'], { SIPEDGE_MI__PORT: 'eighty' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mi\.port: .*\(from SIPEDGE_MI__PORT\)/);
  });

  it('exits 2 for a missing file and without --config', async () => {
    expect((await runCli(['--config', join(dir, 'absent.yaml'), '--check'])).code).toBe(2);
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--config FILE is required/);
  });
});
