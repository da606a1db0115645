import { Writable } from 'node:stream';
import { callCommand, defineCommand, MiCommandError, MiRegistry, MiRpcError } from '@sipedge/mi';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { auditStateChanges } from './mi-audit.js';

function setup() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const registry = new MiRegistry().register(
    defineCommand({ name: 'list', readOnly: true, description: 'reads', handler: () => [] }),
    defineCommand({
      name: 'drain',
      description: 'changes',
      params: z.object({ member: z.string() }),
      handler: ({ member }) => {
        if (member === 'none') throw new MiCommandError(404, 'not found');
        return 'OK';
      },
    }),
    defineCommand({ name: 'status', readOnly: true, description: 'reads', handler: () => 'up' }),
  );
  auditStateChanges(registry, logger);
  return { registry, lines };
}

describe('MI audit log', () => {
  it('logs a state-changing command with its params, transport and session', async () => {
    const { registry, lines } = setup();
    const session = { id: '7', send: () => true, onClose: () => {} };
    expect(
      await callCommand(registry, 'drain', { member: 'r1' }, { transport: 'ws', session }),
    ).toBe('OK');
    await expect(
      callCommand(registry, 'drain', { member: 'none' }, { transport: 'http' }),
    ).rejects.toBeInstanceOf(MiRpcError);
    expect(
      lines.map(({ level, mi_command, params, transport, session, ok }) => ({
        level,
        mi_command,
        params,
        transport,
        session,
        ok,
      })),
    ).toEqual([
      {
        level: 30,
        mi_command: 'drain',
        params: { member: 'r1' },
        transport: 'ws',
        session: '7',
        ok: true,
      },
      {
        level: 30,
        mi_command: 'drain',
        params: { member: 'none' },
        transport: 'http',
        session: undefined,
        ok: false,
      },
    ]);
  });

  it('leaves read-only commands unlogged and the command order as it was', async () => {
    const { registry, lines } = setup();
    expect(await callCommand(registry, 'list')).toEqual([]);
    expect(lines).toEqual([]);
    expect(registry.commands().map((c) => c.name)).toEqual(['list', 'drain', 'status']);
  });
});
