/**
 * The two-site example's configurations: each passes `cluster-node --check`, and the four name
 * the same two sites by the service addresses the sites' nodes hold.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { NODE_BIN } from '../src/index.js';

const dir = fileURLToPath(new URL('../../examples/two-sites/', import.meta.url));

describe('examples/two-sites', () => {
  it('has four valid configs naming the same two sites by their service addresses', () => {
    const services = new Map<string, string>();
    const lists: string[] = [];
    for (const file of ['a1.yaml', 'a2.yaml', 'b1.yaml', 'b2.yaml']) {
      const out = execFileSync(
        process.execPath,
        [NODE_BIN, '--config', `${dir}${file}`, '--check'],
        {
          encoding: 'utf8',
        },
      );
      expect(out).toContain('configuration OK');
      const c = parse(readFileSync(`${dir}${file}`, 'utf8')) as {
        ha: { service_address: string };
        federation: { site: string; sites: { id: string; address: string }[] };
      };
      services.set(c.federation.site, c.ha.service_address);
      lists.push(JSON.stringify(c.federation.sites));
    }
    expect(new Set(lists).size).toBe(1);
    const sites = JSON.parse(lists[0]!) as { id: string; address: string }[];
    expect(sites).toEqual([...services].map(([id, address]) => ({ id, address })));
  });
});
