import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMiCore } from '../core/create.js';
import { handleJsonRpc, type JsonRpcResponse } from './engine.js';

const core = createMiCore({ eventSockets: false });
const methods = [...core.registry.commands().map((c) => c.name), 'nope'];

function checkResponse(r: JsonRpcResponse): void {
  expect(r.jsonrpc).toBe('2.0');
  expect(Object.keys(r).at(-1)).toBe('id');
  if ('error' in r) {
    expect(typeof r.error.code).toBe('number');
    expect(typeof r.error.message).toBe('string');
  } else {
    expect(r.result).not.toBeNull();
    expect(r.result).not.toBeUndefined();
  }
}

describe('engine on random input', () => {
  it('random text never throws and always gets a well-formed reply', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
        const reply = await handleJsonRpc(core.registry, text);
        if (reply === undefined) return;
        for (const r of Array.isArray(reply) ? reply : [reply]) checkResponse(r);
      }),
      { numRuns: 500 },
    );
  });

  it('random requests to real commands: a reply per id, none for notifications', async () => {
    const param = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
    );
    const req = fc.record(
      {
        jsonrpc: fc.constant('2.0'),
        method: fc.constantFrom(...methods),
        params: fc.oneof(
          fc.array(param, { maxLength: 4 }),
          fc.dictionary(fc.constantFrom('group', 'identifier', 'event', 'statistics', 'x'), param),
        ),
        id: fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null)),
      },
      { requiredKeys: ['jsonrpc', 'method'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(req, { minLength: 1, maxLength: 5 }), async (batch) => {
        const reply = await handleJsonRpc(core.registry, JSON.stringify(batch));
        const expected = batch.filter((r) => 'id' in r).length;
        const replies = reply === undefined ? [] : Array.isArray(reply) ? reply : [reply];
        expect(replies).toHaveLength(expected);
        replies.forEach(checkResponse);
        // ids come back in order
        expect(replies.map((r) => r.id)).toEqual(batch.filter((r) => 'id' in r).map((r) => r.id));
      }),
      { numRuns: 300 },
    );
  });
});
