import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FREE_PORT_WINDOW, freePort, freeTcpPort, freeUdpPort } from './index.js';

/** Linux's ephemeral port range, or undefined where there is none to read. */
function ephemeral(): [number, number] | undefined {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1')
      .trim()
      .split(/\s+/)
      .map(Number);
    return lo === undefined || hi === undefined ? undefined : [lo, hi];
  } catch {
    return undefined;
  }
}

function bindBoth(port: number): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const u = dgram.createSocket('udp4');
    u.once('error', reject);
    u.bind(port, '127.0.0.1', () => {
      const t = net.createServer();
      t.once('error', reject);
      t.listen(port, '127.0.0.1', () =>
        resolve(async () => {
          await new Promise<void>((r) => u.close(() => r()));
          await new Promise<void>((r) => t.close(() => r()));
        }),
      );
    });
  });
}

describe('freePort', () => {
  it('hands out distinct ports outside the ephemeral range, bindable over UDP and TCP', async () => {
    const ports = [await freeUdpPort(), await freeTcpPort()];
    for (let i = 0; i < 30; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    const [first, last] = FREE_PORT_WINDOW;
    const eph = ephemeral();
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(first);
      expect(p).toBeLessThanOrEqual(last);
      if (eph !== undefined && eph[1] < 64535) expect(p < eph[0] || p > eph[1]).toBe(true);
    }
    for (const p of ports.slice(2)) await (await bindBoth(p))();
  });

  it('never hands out a port something holds', async () => {
    // hold the next few hundred candidates' worth of ports the kernel would otherwise reuse:
    // every port returned while they are held must be bindable, so none of the held ones
    const held: (() => Promise<void>)[] = [];
    const first = await freePort();
    for (let p = first + 1; p < Math.min(first + 40, FREE_PORT_WINDOW[1] + 1); p++)
      held.push(await bindBoth(p).catch(() => async () => {}));
    try {
      for (let i = 0; i < 5; i++) {
        const p = await freePort();
        expect(p < first + 1 || p >= first + 40).toBe(true);
        await (await bindBoth(p))();
      }
    } finally {
      for (const close of held) await close();
    }
  });
});
