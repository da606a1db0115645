import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineCommand } from '../src/command.js';
import { live, request } from './helpers.js';

interface Capture {
  exchanges: { request: string; response: string }[];
}

const capture = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures', 'opensips-3.6.8-mi-http.json'), 'utf8'),
) as Capture;

describe('byte-for-byte with OpenSIPS 3.6.8 mi_http (docs/protocols/mi.md §6)', () => {
  it('a command returning the captured result produces the captured HTTP body', async () => {
    await using mi = await live();
    // commands that return exactly what OpenSIPS returned: the envelope must match byte for byte
    for (const ex of capture.exchanges) {
      const { method } = JSON.parse(ex.request) as { method: string };
      const { result } = JSON.parse(ex.response) as { result: unknown };
      mi.registry.register(
        defineCommand({
          name: method,
          description: 'captured',
          module: 'clusterer',
          handler: () => result,
        }),
      );
    }
    for (const ex of capture.exchanges) {
      const withType = await request(mi.server.url, {
        body: ex.request,
        headers: { 'Content-Type': 'application/json' },
      });
      expect(withType.status).toBe(200);
      expect(withType.body).toBe(ex.response);
      // OpenSIPS only answers with the JSON content type; we answer without it too
      const without = await request(mi.server.url, { body: ex.request });
      expect(without.body).toBe(ex.response);
    }
  });
});
