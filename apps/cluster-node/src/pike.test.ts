import { VirtualClock } from '@sipedge/core/testing';
import { callCommand, createMiCore, MiRpcError } from '@sipedge/mi';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseNodeConfig } from './config.js';
import { PIKE_BLOCKED_EVENT, PikeGuard } from './pike.js';

function setup(pike: Record<string, unknown> = {}) {
  const clock = new VirtualClock(10_000_000);
  const mi = createMiCore({ eventSockets: false });
  const config = parseNodeConfig({
    node: { id: 1 },
    clusterer: { listen: 'bin:127.0.0.1:0' },
    sip: {
      pike: {
        enabled: true,
        sampling_time_unit: 1,
        reqs_density_per_unit: 5,
        remove_latency: 3,
        trusted: ['198.51.100.0/24', '2001:db8::/32'],
        ...pike,
      },
    },
  });
  const lines: Array<{ msg: string; ip?: string }> = [];
  const logger = pino(
    { level: 'info' },
    { write: (l: string) => lines.push(JSON.parse(l) as { msg: string }) },
  );
  const guard = new PikeGuard(config.sip.pike, {
    peers: ['192.0.2.200'],
    stats: mi.stats,
    events: mi.events,
    logger,
    clock,
  });
  mi.registry.register(guard.miCommands());
  const events: unknown[] = [];
  mi.events.on(PIKE_BLOCKED_EVENT, (p) => events.push(p));
  const send = (ip: string, n: number) => Array.from({ length: n }, () => guard.check(ip));
  return { clock, mi, guard, lines, events, send };
}

describe('PikeGuard', () => {
  it('a flooding source is dropped, reported once (log + E_PIKE_BLOCKED), counted', async () => {
    const { mi, lines, events, send } = setup();
    const v = send('192.0.2.1', 500);
    expect(v.slice(0, 5).every((a) => a === 'allowed')).toBe(true);
    expect(v.slice(5).every((a) => a === 'drop')).toBe(true);
    expect(events).toEqual([{ ip: '192.0.2.1' }]);
    expect(lines.filter((l) => l.msg === 'pike: source blocked for flooding')).toHaveLength(1);
    expect(mi.stats.get('pike:blocked')).toBe(1);
    expect(mi.stats.get('pike:dropped')).toBe(495);
    expect(mi.stats.get('pike:blocked_sources')).toBe(1);
    expect(await callCommand(mi.registry, 'pike_list')).toEqual({ IPs: ['192.0.2.1'] });
  });

  it('cluster peers and trusted addresses are never counted', () => {
    const { send } = setup();
    for (const ip of ['192.0.2.200', '198.51.100.9', '2001:db8::1']) {
      expect(send(ip, 100).every((a) => a === 'allowed')).toBe(true);
    }
    expect(send('2001:db9::1', 6).at(-1)).toBe('drop');
  });

  it('with action reply, a blocked source is answered (503) instead of dropped', () => {
    const { guard, send } = setup({ action: 'reply' });
    expect(send('192.0.2.1', 6).at(-1)).toBe('reply');
    expect(guard.retryAfter).toBe(3);
  });

  it('unblocks after the quiet period; pike_rm unblocks one address or every one', async () => {
    const { clock, mi, lines, send } = setup();
    send('192.0.2.1', 6);
    clock.advance(4000);
    expect(await callCommand(mi.registry, 'pike_list')).toEqual({ IPs: [] });
    expect(lines.some((l) => l.msg === 'pike: source unblocked after a quiet period')).toBe(true);
    expect(mi.stats.get('pike:released')).toBe(1);
    send('192.0.2.1', 6);
    send('192.0.2.2', 6);
    send('192.0.2.3', 6);
    expect(await callCommand(mi.registry, 'pike_rm', { ip: '192.0.2.1' })).toBe('OK');
    expect(send('192.0.2.1', 1)).toEqual(['allowed']);
    await expect(callCommand(mi.registry, 'pike_rm', { ip: '192.0.2.1' })).rejects.toThrow(
      MiRpcError,
    );
    await expect(callCommand(mi.registry, 'pike_rm', { ip: 'nonsense' })).rejects.toThrow(/Bad IP/);
    expect(await callCommand(mi.registry, 'pike_rm')).toEqual({ removed: 2 });
    expect(await callCommand(mi.registry, 'pike_list')).toEqual({ IPs: [] });
  });
});
