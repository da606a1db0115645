import { describe, expect, it } from 'vitest';
import { runHaHook } from './ha-hooks.js';

const ctx = { state: 'active' as const, sharingTag: 'vip/1', serviceAddress: '127.0.0.100:5060' };

describe('runHaHook', () => {
  it('runs the command with the tag, state and address in its environment', async () => {
    const r = await runHaHook(
      'echo "$SIPEDGE_HA_STATE $SIPEDGE_SHARING_TAG $SIPEDGE_SERVICE_HOST $SIPEDGE_SERVICE_PORT"',
      ctx,
    );
    expect(r).toEqual({
      command: expect.any(String),
      code: 0,
      timedOut: false,
      output: 'active vip/1 127.0.0.100 5060\n',
    });
  });

  it('reports a failing command and logs it as an error', async () => {
    const errors: object[] = [];
    const r = await runHaHook(
      'echo no >&2; exit 3',
      { ...ctx, state: 'backup' },
      {
        logger: { info: () => {}, error: (o) => errors.push(o) },
      },
    );
    expect(r.code).toBe(3);
    expect(r.output).toBe('no\n');
    expect(errors).toHaveLength(1);
  });

  it('kills a command that outlives its timeout', async () => {
    const r = await runHaHook('exec sleep 30', ctx, { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(r.code).toBeNull();
  });

  it('keeps only the first 4 KiB of output', async () => {
    const r = await runHaHook('head -c 100000 /dev/zero | tr "\\0" x', ctx);
    expect(r.code).toBe(0);
    expect(r.output.length).toBe(4096);
  });
});
