/**
 * TcpBinTransport and Linux's TCP self-connect: a connection to a loopback port nobody
 * listens on can be given that very port as its source port and connect to itself. Forced
 * here by making the transport's connect ask for that source port.
 */
import net from 'node:net';
import { peerPort, until } from '@sipedge/test-utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodePacket } from '../src/bin/packet.js';
import { TcpBinTransport } from '../src/transport/tcp.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('TcpBinTransport self-connect', () => {
  it('drops a connection to itself, frees the port and never reads its own packets', async () => {
    // a port nobody listens on, outside the range the kernel picks source ports from
    const port = await peerPort();
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
      await until(() => transport.counters.get('self_connects') === 1, {
        what: 'the self-connect to be counted',
      });
      // the port is free again for the peer that owns it
      await until(
        async () => {
          const srv = net.createServer();
          await new Promise<void>((resolve, reject) => {
            srv.once('error', reject);
            srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
          });
          return true;
        },
        { what: `port ${port} to be free again` },
      );
      expect(got).toEqual([]);
    } finally {
      await transport.close();
    }
  });
});
