/** TcpBinTransport endpoints on loopback for the transport tests, and a raw client. */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { until } from '@sipedge/test-utils';
import { encodePacket } from '../src/bin/packet.js';
import type { BinAddress } from '../src/nodes/node-info.js';
import type { PacketSource, TransportHandler } from '../src/runtime.js';
import { TcpBinTransport, type TcpTransportOptions } from '../src/transport/tcp.js';

const open: TcpBinTransport[] = [];

/** Close every endpoint the test made (an `afterEach`). */
export async function closeEndpoints(): Promise<void> {
  await Promise.all(open.splice(0).map((t) => t.close()));
}

export const tlsOpts = {
  key: readFileSync(new URL('./fixtures/tls/key.pem', import.meta.url)),
  cert: readFileSync(new URL('./fixtures/tls/cert.pem', import.meta.url)),
  ca: readFileSync(new URL('./fixtures/tls/cert.pem', import.meta.url)),
  rejectUnauthorized: true,
  requestCert: true,
};

export interface Endpoint {
  t: TcpBinTransport;
  addr: BinAddress;
  got: { packet: Buffer; source: PacketSource }[];
  lost: BinAddress[];
  wait(n: number): Promise<void>;
  /** Subscribes `recheck` to every packet and lost peer (for `until`). */
  wake(recheck: () => void): () => void;
}

export async function endpoint(
  proto: 'bin' | 'bins' = 'bin',
  extra: Partial<TcpTransportOptions> = {},
  handler: Partial<TransportHandler> & {
    /** The node id to admit a packet's connection for (as the clusterer does), if any. */
    admit?: (packet: Buffer, source: PacketSource) => number | undefined;
  } = {},
): Promise<Endpoint> {
  const t = new TcpBinTransport({
    listen: { proto, host: '127.0.0.1', port: 0 },
    ...(proto === 'bins' ? { tls: tlsOpts } : {}),
    ...extra,
  });
  open.push(t);
  const got: Endpoint['got'] = [];
  const lost: BinAddress[] = [];
  const listeners = new Set<() => void>();
  t.setHandler({
    ...handler,
    onPacket: (packet, source) => {
      const id = handler.admit?.(packet, source);
      if (id !== undefined) source.connection?.admit(id);
      got.push({ packet, source });
      for (const l of listeners) l();
    },
    onPeerLost: (to) => {
      lost.push(to);
      for (const l of listeners) l();
    },
  });
  const addr = await t.listen();
  const wake = (recheck: () => void): (() => void) => {
    listeners.add(recheck);
    return () => listeners.delete(recheck);
  };
  const wait = async (n: number): Promise<void> => {
    await until(() => got.length >= n, { what: () => `${n} packets (got ${got.length})`, wake });
  };
  return { t, addr, got, lost, wait, wake };
}

export function rawClient(port: number, bytes: Buffer): Promise<'closed'> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('connection was not closed'));
    }, 5000);
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

export const ping = (src: number): Buffer =>
  encodePacket({ kind: 'ping', cluster: 1, src, reqNodeList: true });
