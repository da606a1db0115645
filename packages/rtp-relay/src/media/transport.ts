/**
 * Media sockets: what the engine needs from UDP. The real one is node:dgram; tests inject an
 * in-memory network so relaying and latching are checked without the kernel.
 */
import dgram from 'node:dgram';

export type PacketHandler = (data: Buffer, port: number, address: string) => void;

export interface MediaSocket {
  readonly port: number;
  send(data: Uint8Array, port: number, address: string): void;
  close(): void;
}

export interface MediaTransport {
  /**
   * Binds a UDP socket on `address:port` (IPv6 when the address contains `:`). Rejects when the
   * port is taken; the engine then tries the next one.
   */
  bind(address: string, port: number, onPacket: PacketHandler): Promise<MediaSocket>;
}

export const udpMediaTransport: MediaTransport = {
  bind(address, port, onPacket) {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({
        type: address.includes(':') ? 'udp6' : 'udp4',
        // ipv6Only keeps a v6 bind from also taking the v4 port
        ipv6Only: address.includes(':'),
      });
      const onError = (err: Error): void => {
        sock.close();
        reject(err);
      };
      sock.once('error', onError);
      sock.bind({ address, port, exclusive: true }, () => {
        sock.off('error', onError);
        // after bind, a send error (ICMP unreachable on some systems) must not crash the relay
        sock.on('error', () => {});
        sock.on('message', (msg, rinfo) => onPacket(msg, rinfo.port, rinfo.address));
        let closed = false;
        resolve({
          port,
          send(data, p, a) {
            if (!closed) sock.send(data, p, a);
          },
          close() {
            if (closed) return;
            closed = true;
            sock.close();
          },
        });
      });
    });
  },
};
