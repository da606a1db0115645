/**
 * TcpBinTransport and Linux's TCP self-connect: a connection to a loopback port nobody
 * listens on can be given that very port as its source port and connect to itself. Forced
 * here by making the transport's connect ask for that source port.
 */
import net from 'node:net';
import { freeTcpPort } from '@sipedge/test-utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodePacket } from '../src/bin/packet.js';
import { TcpBinTransport } from '../src/transport/tcp.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('TcpBinTransport self-connect', () => {
  it('drops a connection to itself, frees the port and never reads its own packets', async () => {
    const port = await freeTcpPort();
    const realConnect = net.connect;
    vi.spyOn(net, 'connect').mockImplementation(((opts: net.TcpNetConnectOpts) =>
      realConnect({ ...opts, localAddress: '127.0.0.1', localPort: opts.port })) as never);
    const transport = new TcpBinTransport({
      listen: { proto: 'bin', host: '127.0.0.1', port: 0 },
      bindOutbound: false,
    });
    const got: Buffer[] = [];
    transport.setHandler({ onPacket: (p) => got.push(p) });
    await transport.listen();
    try {
      const ping = encodePacket({ kind: 'ping', cluster: 1, src: 1, reqNodeList: false });
      transport.send({ proto: 'bin', host: '127.0.0.1', port }, ping);
      await vi.waitFor(() => expect(transport.counters.get('self_connects')).toBe(1), {
        timeout: 5000,
      });
      // the port is free again for the peer that owns it
      await vi.waitFor(
        async () => {
          const srv = net.createServer();
          await new Promise<void>((resolve, reject) => {
            srv.once('error', reject);
            srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
          });
        },
        { timeout: 5000 },
      );
      expect(got).toEqual([]);
    } finally {
      await transport.close();
    }
  });
});
