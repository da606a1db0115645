import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand } from '../command.js';
import { MiCommandError } from '../errors.js';
import { MiRegistry } from '../registry.js';
import { StatisticsRegistry } from '../stats/registry.js';
import { callCommand, handleJsonRpc } from './engine.js';

function registry(): MiRegistry {
  const r = new MiRegistry();
  r.register(
    defineCommand({
      name: 'echo',
      description: 'echo',
      params: z.object({ a: z.string(), b: z.number().int().optional() }),
      handler: (p) => p,
    }),
    // clusterer_set_status-like: (cluster_id, status) or (cluster_id, node_id, status)
    defineCommand({
      name: 'set_status',
      description: 'two recipes',
      params: z.object({
        cluster_id: z.number().int(),
        node_id: z.number().int().optional(),
        status: z.number().int().min(0).max(1),
      }),
      recipes: [
        ['cluster_id', 'status'],
        ['cluster_id', 'node_id', 'status'],
      ],
      handler: (p) => p,
    }),
    defineCommand({
      name: 'ambiguous',
      description: 'two recipes of two',
      params: z.object({
        x: z.string().optional(),
        y: z.string().optional(),
        z: z.string().optional(),
      }),
      recipes: [
        ['x', 'y'],
        ['x', 'z'],
      ],
      handler: (p) => p,
    }),
    defineCommand({
      name: 'named_only',
      description: 'named only',
      params: z.object({ k: z.string() }),
      namedOnly: true,
      handler: () => 'OK',
    }),
    defineCommand({
      name: 'list',
      description: 'array param',
      params: z.object({ items: z.array(z.string()) }),
      handler: (p) => p.items.length,
    }),
    defineCommand({ name: 'nothing', description: 'returns null', handler: () => null }),
    defineCommand({
      name: 'fail404',
      description: 'command error',
      handler: () => {
        throw new MiCommandError(404, 'Cluster id not found');
      },
    }),
    defineCommand({
      name: 'crash',
      description: 'throws',
      handler: () => {
        throw new Error('secret path /etc/x at line 3');
      },
    }),
    defineCommand({ name: 'ok', description: 'OK', handler: () => 'OK' }),
  );
  return r;
}

const call = async (body: unknown): Promise<unknown> =>
  handleJsonRpc(registry(), typeof body === 'string' ? body : JSON.stringify(body));

describe('JSON-RPC 2.0 engine', () => {
  it('answers a request with result and the id last', async () => {
    const reply = await handleJsonRpc(registry(), '{"jsonrpc":"2.0","method":"ok","id":7}');
    expect(JSON.stringify(reply)).toBe('{"jsonrpc":"2.0","result":"OK","id":7}');
  });

  it('echoes string and null ids', async () => {
    expect(await call({ jsonrpc: '2.0', method: 'ok', id: 'abc' })).toEqual({
      jsonrpc: '2.0',
      result: 'OK',
      id: 'abc',
    });
    expect(await call({ jsonrpc: '2.0', method: 'ok', id: null })).toMatchObject({ id: null });
  });

  it('-32700 with id null for malformed JSON', async () => {
    expect(await call('{"jsonrpc":"2.0",')).toEqual({
      jsonrpc: '2.0',
      error: { code: -32700, message: 'Parse error' },
      id: null,
    });
  });

  it.each([
    ['wrong version', { jsonrpc: '1.0', method: 'ok', id: 1 }],
    ['missing version', { method: 'ok', id: 1 }],
    ['method not a string', { jsonrpc: '2.0', method: 5, id: 1 }],
    ['bad id type', { jsonrpc: '2.0', method: 'ok', id: { a: 1 } }],
    ['params a string', { jsonrpc: '2.0', method: 'ok', params: 'x', id: 1 }],
    ['params null', { jsonrpc: '2.0', method: 'ok', params: null, id: 1 }],
    ['unknown member', { jsonrpc: '2.0', method: 'ok', id: 1, extra: true }],
    ['not an object', 42],
  ])('-32600 Invalid Request (%s) with id null', async (_name, req) => {
    expect(await call(req)).toEqual({
      jsonrpc: '2.0',
      error: { code: -32600, message: 'Invalid Request' },
      id: null,
    });
  });

  it('-32601 for an unknown method', async () => {
    expect(await call({ jsonrpc: '2.0', method: 'nope', id: 3 })).toEqual({
      jsonrpc: '2.0',
      error: { code: -32601, message: 'Method not found' },
      id: 3,
    });
  });

  it('notifications get no reply, even when they fail', async () => {
    expect(await call({ jsonrpc: '2.0', method: 'ok' })).toBeUndefined();
    expect(await call({ jsonrpc: '2.0', method: 'nope' })).toBeUndefined();
    expect(await call({ jsonrpc: '2.0', method: 'echo', params: [] })).toBeUndefined();
  });

  it('an invalid notification is still answered with id null', async () => {
    expect(await call({ jsonrpc: '2.0', method: 1 })).toMatchObject({
      error: { code: -32600 },
      id: null,
    });
  });

  it('batches: one reply per request, notifications left out, order kept', async () => {
    const reply = await call([
      { jsonrpc: '2.0', method: 'ok', id: 1 },
      { jsonrpc: '2.0', method: 'ok' },
      { jsonrpc: '2.0', method: 'nope', id: 2 },
      7,
    ]);
    expect(reply).toEqual([
      { jsonrpc: '2.0', result: 'OK', id: 1 },
      { jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' }, id: 2 },
      { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid Request' }, id: null },
    ]);
  });

  it('an empty batch is one Invalid Request', async () => {
    expect(await call([])).toEqual({
      jsonrpc: '2.0',
      error: { code: -32600, message: 'Invalid Request' },
      id: null,
    });
  });

  it('a batch of notifications gets no reply', async () => {
    expect(
      await call([
        { jsonrpc: '2.0', method: 'ok' },
        { jsonrpc: '2.0', method: 'ok' },
      ]),
    ).toBeUndefined();
  });

  it('an oversize batch is refused', async () => {
    const batch = Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', method: 'ok', id: i }));
    expect(await call(batch)).toMatchObject({ error: { code: -32600 }, id: null });
  });

  it('command errors carry their HTTP-like code and message', async () => {
    expect(await call({ jsonrpc: '2.0', method: 'fail404', id: 1 })).toEqual({
      jsonrpc: '2.0',
      error: { code: 404, message: 'Cluster id not found' },
      id: 1,
    });
  });

  it('a handler returning null is -32000 "Command handler returned null"', async () => {
    expect(await call({ jsonrpc: '2.0', method: 'nothing', id: 1 })).toEqual({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Server error', data: 'Command handler returned null' },
      id: 1,
    });
  });

  it('an unexpected throw is 500 without the message or stack', async () => {
    const reply = await call({ jsonrpc: '2.0', method: 'crash', id: 1 });
    expect(reply).toEqual({
      jsonrpc: '2.0',
      error: { code: 500, message: 'Internal error' },
      id: 1,
    });
    expect(JSON.stringify(reply)).not.toContain('secret');
  });

  it('counts what it sees in mi:* statistics', async () => {
    const stats = new StatisticsRegistry();
    const r = registry();
    await handleJsonRpc(r, '{', { stats });
    await handleJsonRpc(r, '{"jsonrpc":"2.0","method":"nope","id":1}', { stats });
    await handleJsonRpc(r, '{"jsonrpc":"2.0","method":"ok","id":1}', { stats });
    await handleJsonRpc(r, '{"jsonrpc":"2.0","method":"echo","params":[],"id":1}', { stats });
    expect(stats.values(['mi:'])).toMatchObject({
      'mi:parse_errors': 1,
      'mi:unknown_methods': 1,
      'mi:requests': 3,
      'mi:param_errors': 1,
    });
  });

  it('callCommand runs a command in-process and throws JSON-RPC errors', async () => {
    const r = registry();
    expect(await callCommand(r, 'echo', ['x'])).toEqual({ a: 'x' });
    await expect(callCommand(r, 'fail404')).rejects.toMatchObject({ rpcCode: 404 });
  });
});

describe('recipes and parameter types (OpenSIPS rules)', () => {
  const req = (method: string, params?: unknown): unknown =>
    call({ jsonrpc: '2.0', method, ...(params !== undefined ? { params } : {}), id: 1 });
  const invalid = (data: string): unknown => ({
    jsonrpc: '2.0',
    error: { code: -32602, message: 'Invalid params', data },
    id: 1,
  });

  it('positional recipes are chosen by count', async () => {
    expect(await req('set_status', [1, 0])).toMatchObject({ result: { cluster_id: 1, status: 0 } });
    expect(await req('set_status', [1, 2, 1])).toMatchObject({
      result: { cluster_id: 1, node_id: 2, status: 1 },
    });
  });

  it('no recipe of that count: "Too few or too many parameters"', async () => {
    expect(await req('set_status', [1])).toEqual(invalid('Too few or too many parameters'));
    expect(await req('set_status', [1, 2, 3, 4])).toEqual(
      invalid('Too few or too many parameters'),
    );
    expect(await req('set_status')).toEqual(invalid('Too few or too many parameters'));
    expect(await req('set_status', {})).toEqual(invalid('Too few or too many parameters'));
  });

  it('two recipes with the same count: "Ambiguous call, use named parameters instead"', async () => {
    expect(await req('ambiguous', ['a', 'b'])).toEqual(
      invalid('Ambiguous call, use named parameters instead'),
    );
    expect(await req('ambiguous', { x: 'a', z: 'c' })).toMatchObject({
      result: { x: 'a', z: 'c' },
    });
  });

  it('named params must match a recipe exactly', async () => {
    expect(await req('set_status', { cluster_id: 1, status: 1 })).toMatchObject({
      result: { cluster_id: 1, status: 1 },
    });
    expect(await req('set_status', { cluster_id: 1, state: 1 })).toEqual(
      invalid('Named parameters do not match'),
    );
    expect(await req('set_status', { cluster_id: 1, status: 1, extra: 2 })).toEqual(
      invalid('Named parameters do not match'),
    );
  });

  it('empty array and empty object count as no params', async () => {
    expect(await req('ok', [])).toMatchObject({ result: 'OK' });
    expect(await req('ok', {})).toMatchObject({ result: 'OK' });
    expect(await req('ok', [1])).toEqual(invalid('Too few or too many parameters'));
  });

  it('named-only commands refuse positional params', async () => {
    expect(await req('named_only', ['v'])).toEqual(
      invalid('Command only supports named parameters'),
    );
    expect(await req('named_only', { k: 'v' })).toMatchObject({ result: 'OK' });
  });

  it('int params take numbers and numeric strings', async () => {
    expect(await req('set_status', ['1', '1'])).toMatchObject({
      result: { cluster_id: 1, status: 1 },
    });
    expect(await req('set_status', ['one', 1])).toEqual(
      invalid("Bad type for parameter 'cluster_id'"),
    );
    expect(await req('set_status', [1, 1.5])).toEqual(invalid("Bad type for parameter 'status'"));
  });

  it('string params take strings and numbers', async () => {
    expect(await req('echo', [5])).toMatchObject({ result: { a: '5' } });
    expect(await req('echo', [true])).toEqual(invalid("Bad type for parameter 'a'"));
  });

  it('array params must be arrays', async () => {
    expect(await req('list', [['a', 'b']])).toMatchObject({ result: 2 });
    expect(await req('list', ['a'])).toEqual(invalid("Bad type for parameter 'items'"));
  });
});
