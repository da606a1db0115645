/**
 * The connection budgets of TcpBinTransport on loopback (127.0.0.x addresses stand for hosts):
 * pending connections are closed after the first-packet deadline, held per address with the
 * oldest closed first, capped from addresses that are not nodes', and admitted ones are capped
 * per node. Plus the hello written first, and `bins:` certificate names.
 */
import net from 'node:net';
import { until } from '@sipedge/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { closeEndpoints, type Endpoint, endpoint, ping, tlsOpts } from './endpoint.js';

afterEach(closeEndpoints);

const sockets: net.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

/** An idle TCP connection to `port` from `from`; resolves once connected. */
async function idle(port: number, from = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port, localAddress: from });
  sockets.push(s);
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  return s;
}

const closed = (s: net.Socket): Promise<void> =>
  new Promise((r) => (s.closed ? r() : s.once('close', () => r())));

const counter = (e: Endpoint, name: string): number => e.t.counters.get(name) ?? 0;

/** Admit every connection for the source id of its packets (a PING's src). */
const admitBySource = { admit: (p: Buffer) => p.readInt32LE(p.length - 8) };

describe('BIN connection budgets', () => {
  it('closes a connection that sends nothing acceptable within firstPacketTimeout', async () => {
    const b = await endpoint('bin', { firstPacketTimeout: 150 });
    const silent = await idle(b.addr.port);
    await closed(silent);
    expect(counter(b, 'first_packet_timeout')).toBe(1);
    // a packet the receiver does not admit (the clusterer refused it) does not stop the clock
    const refused = await idle(b.addr.port);
    refused.write(ping(1));
    await b.wait(1);
    await closed(refused);
    expect(counter(b, 'first_packet_timeout')).toBe(2);
  });

  it('keeps an admitted connection past the deadline', async () => {
    const b = await endpoint('bin', { firstPacketTimeout: 100 }, admitBySource);
    const a = await endpoint();
    a.t.send(b.addr, ping(2));
    await b.wait(1);
    expect(b.got[0]?.source.connection?.nodeId).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    a.t.send(b.addr, ping(2));
    await b.wait(2);
    expect(counter(b, 'first_packet_timeout')).toBe(0);
    expect(a.t.counters.get('connects')).toBe(1);
    expect(b.t.inboundConnections).toEqual({ open: 1, pending: 0 });
  });

  it('holds maxPendingPerHost idle connections per address, closing the oldest', async () => {
    const b = await endpoint('bin', { maxPendingPerHost: 3, nodeHost: () => true });
    const first = await idle(b.addr.port);
    for (let i = 0; i < 3; i++) await idle(b.addr.port);
    await closed(first);
    expect(counter(b, 'evicted_pending')).toBe(1);
    // another address has its own budget
    await idle(b.addr.port, '127.0.0.2');
    await until(() => counter(b, 'accepted') === 5, { what: 'five accepted' });
    expect(counter(b, 'evicted_pending')).toBe(1);
    expect(b.t.inboundConnections).toEqual({ open: 4, pending: 4 });
  });

  it('lets a node in from a host flooded with idle connections', async () => {
    // regression: 512 idle connections from a node's host made the listener refuse every node
    const b = await endpoint('bin', { maxPendingPerHost: 4, nodeHost: () => true }, admitBySource);
    for (let i = 0; i < 20; i++) await idle(b.addr.port);
    for (let i = 0; i < 20; i++) await idle(b.addr.port, '127.0.0.3');
    const node = await endpoint('bin', {
      listen: { proto: 'bin', host: '127.0.0.3', port: 0 },
    });
    node.t.send(b.addr, ping(3));
    await b.wait(1);
    expect(b.got[0]?.source).toMatchObject({ host: '127.0.0.3', connection: { nodeId: 3 } });
    // the node's connection took the place of 127.0.0.3's oldest idle one, then left the budget
    expect(b.t.inboundConnections).toEqual({ open: 8, pending: 7 });
    expect(b.t.counters.get('evicted_pending')).toBe(33);
  });

  it('closes new connections from non-node addresses beyond maxPendingUnknown', async () => {
    const b = await endpoint('bin', {
      maxPendingUnknown: 2,
      nodeHost: (h) => h === '127.0.0.5',
    });
    await idle(b.addr.port, '127.0.0.2');
    await idle(b.addr.port, '127.0.0.3');
    const third = await idle(b.addr.port, '127.0.0.4');
    await closed(third);
    expect(counter(b, 'rejected_pending_full')).toBe(1);
    // a node's address is not held against that budget
    await idle(b.addr.port, '127.0.0.5');
    await until(() => counter(b, 'accepted') === 3, { what: 'the node host accepted' });
    expect(counter(b, 'rejected_pending_full')).toBe(1);
  });

  it('keeps at most maxConnectionsPerNode admitted connections per node, closing the idlest', async () => {
    const b = await endpoint('bin', { maxConnectionsPerNode: 1 }, admitBySource);
    const one = await idle(b.addr.port);
    one.write(ping(7));
    await b.wait(1);
    const two = await idle(b.addr.port);
    two.write(ping(7));
    await b.wait(2);
    await closed(one);
    expect(counter(b, 'evicted_node_connection')).toBe(1);
    expect(two.destroyed).toBe(false);
  });
});

describe('hello and certificate names', () => {
  it('writes the handler’s hello first on every new outbound connection', async () => {
    const b = await endpoint();
    const a = await endpoint('bin', {}, { hello: () => ping(99) });
    a.t.send(b.addr, ping(1));
    a.t.send(b.addr, ping(2));
    await b.wait(3);
    expect(b.got.map((g) => g.packet.readInt32LE(g.packet.length - 8))).toEqual([99, 1, 2]);
  });

  it('bins: tells the receiver which names the peer certificate carries', async () => {
    const b = await endpoint('bins');
    const a = await endpoint('bins');
    a.t.send(b.addr, ping(1));
    await b.wait(1);
    const conn = b.got[0]?.source.connection;
    expect(conn?.namesPeer?.('127.0.0.1')).toBe(true);
    expect(conn?.namesPeer?.('sipedge-test')).toBe(true);
    expect(conn?.namesPeer?.('127.0.0.2')).toBe(false);
    expect(conn?.namesPeer?.('node2.example')).toBe(false);
  });

  it('bins: refuses a listener whose certificate does not name the node dialled', async () => {
    const b = await endpoint('bins');
    const a = await endpoint('bins', {}, { peerName: () => 'node2.example' });
    a.t.send(b.addr, ping(1));
    await until(() => a.lost.length > 0, { what: 'the connection refused', wake: a.wake });
    expect(a.t.counters.get('tls_name_mismatch')).toBe(1);
    expect(b.got).toHaveLength(0);
  });

  it('bins: checks no names when the listener does not ask for certificates', async () => {
    const b = await endpoint('bins', { tls: { ...tlsOpts, requestCert: false } });
    const a = await endpoint('bins');
    a.t.send(b.addr, ping(1));
    await b.wait(1);
    expect(b.got[0]?.source.connection?.namesPeer).toBeUndefined();
  });
});
