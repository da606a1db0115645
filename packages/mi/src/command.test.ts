import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand } from './command.js';
import { MiDefinitionError } from './errors.js';
import { MiRegistry } from './registry.js';

describe('defineCommand', () => {
  it('derives recipes: required params, then one more per optional', () => {
    const c = defineCommand({
      name: 'x',
      description: 'x',
      params: z.object({ a: z.string(), b: z.number().optional(), c: z.string().optional() }),
      handler: () => 'OK',
    });
    expect(c.recipes).toEqual([['a'], ['a', 'b'], ['a', 'b', 'c']]);
  });

  it('a command without params has the empty recipe', () => {
    expect(defineCommand({ name: 'y', description: 'y', handler: () => 'OK' }).recipes).toEqual([
      [],
    ]);
  });

  it.each([
    ['unknown name', [['a', 'q']]],
    ['missing required', [['b']]],
    ['repeated name', [['a', 'a']]],
    [
      'same set twice',
      [
        ['a', 'b'],
        ['b', 'a'],
      ],
    ],
  ])('rejects bad recipes (%s)', (_n, recipes) => {
    expect(() =>
      defineCommand({
        name: 'z',
        description: 'z',
        params: z.object({ a: z.string(), b: z.string().optional() }),
        // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong recipes
        recipes: recipes as any,
        handler: () => 'OK',
      }),
    ).toThrow(MiDefinitionError);
  });

  it('rejects more than 10 params in a recipe and bad names', () => {
    const shape: Record<string, z.ZodOptional<z.ZodString>> = {};
    for (let i = 0; i < 11; i++) shape[`p${i}`] = z.string().optional();
    expect(() =>
      defineCommand({ name: 'big', description: '', params: z.object(shape), handler: () => 1 }),
    ).toThrow(/more than 10/);
    expect(() => defineCommand({ name: 'bad name', description: '', handler: () => 1 })).toThrow(
      MiDefinitionError,
    );
  });
});

describe('MiRegistry', () => {
  it('rejects duplicate names, in one call or across calls, registering nothing then', () => {
    const r = new MiRegistry();
    const a = defineCommand({ name: 'a', description: '', handler: () => 1 });
    const b = defineCommand({ name: 'b', description: '', handler: () => 1 });
    r.register(a);
    expect(() => r.register(b, a)).toThrow(/already registered/);
    expect(r.has('b')).toBe(false);
    expect(() => r.register([b, b])).toThrow(MiDefinitionError);
    r.register([b]);
    expect(r.commands().map((c) => c.name)).toEqual(['a', 'b']);
  });

  it('exposes the JSON Schema of the params', () => {
    const r = new MiRegistry().register(
      defineCommand({
        name: 'set',
        description: 'set it',
        params: z.object({ id: z.number().int(), name: z.string().optional() }),
        handler: () => 'OK',
      }),
    );
    expect(r.schema('set')).toMatchObject({
      type: 'object',
      properties: { id: { type: 'integer' }, name: { type: 'string' } },
      required: ['id'],
    });
    expect(r.info('set')).toMatchObject({
      description: 'set it',
      recipes: [['id'], ['id', 'name']],
    });
    expect(r.schema('nope')).toBeUndefined();
  });
});
