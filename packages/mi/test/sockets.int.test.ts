import dgram from 'node:dgram';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/events/bus.js';
import { createSocketSinkFactory, parseEventSocket } from '../src/events/sockets.js';
import { StatisticsRegistry } from '../src/stats/registry.js';

describe('event sockets', () => {
  it('parses OpenSIPS subscriber sockets', () => {
    expect(parseEventSocket('udp:127.0.0.1:9000')).toEqual({
      proto: 'udp',
      host: '127.0.0.1',
      port: 9000,
    });
    expect(parseEventSocket('tcp:[::1]:9000/notify')).toEqual({
      proto: 'tcp',
      host: '::1',
      port: 9000,
      method: 'notify',
    });
    for (const bad of [
      'unix:/tmp/s',
      'udp:127.0.0.1',
      'udp:127.0.0.1:0',
      'udp:h:1/m',
      'tcp:h:70000',
      'x',
    ]) {
      expect(() => parseEventSocket(bad)).toThrow();
    }
  });

  it('a tcp subscriber that does not read loses events (counted), the server queue stays bounded', async () => {
    const stats = new StatisticsRegistry();
    const bus = new EventBus({ stats });
    bus.register('E_BIG');
    const peers: net.Socket[] = [];
    const srv = net.createServer((c) => {
      c.pause(); // never read
      peers.push(c);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const { port } = srv.address() as net.AddressInfo;
    const factory = createSocketSinkFactory({ maxQueuedBytes: 64 * 1024, stats });
    bus.subscribe('E_BIG', factory(`tcp:127.0.0.1:${port}`));
    const blob = 'z'.repeat(32 * 1024);
    for (let i = 0; i < 20_000 && (stats.get('events:socket_dropped') ?? 0) === 0; i++) {
      bus.raise('E_BIG', { blob });
      if (i % 8 === 0) await new Promise<void>((r) => setImmediate(r));
    }
    expect(stats.get('events:socket_dropped')).toBeGreaterThan(0);
    expect(bus.subscribers('E_BIG')).toHaveLength(1);
    bus.close();
    for (const p of peers) p.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('a datagram over 65457 bytes is skipped and counted', async () => {
    const stats = new StatisticsRegistry();
    const bus = new EventBus({ stats });
    bus.register('E_DG');
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString()));
    bus.subscribe(
      'E_DG',
      createSocketSinkFactory({ stats })(`udp:127.0.0.1:${sock.address().port}`),
    );
    bus.raise('E_DG', { blob: 'q'.repeat(70_000) });
    bus.raise('E_DG', { small: 1 });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no datagram')), 5000);
      sock.once('message', () => {
        clearTimeout(t);
        resolve();
      });
    });
    expect(got).toEqual(['{"jsonrpc":"2.0","method":"E_DG","params":{"small":1}}']);
    expect(stats.get('events:socket_dropped')).toBe(1);
    bus.close();
    sock.close();
  });
});
