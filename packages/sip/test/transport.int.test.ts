import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  createResponse,
  type Endpoint,
  FlowTokenCodec,
  parseMessage,
  type SipMessage,
  SipTransports,
} from '../src/index.js';

function options(branch: string, transport = 'UDP'): SipMessage {
  return parseMessage(
    Buffer.from(
      `OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/${transport} h.example.com;branch=${branch}\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: ${branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    ),
  );
}

/** A transport pair endpoint that records what it receives and can wait for the n-th message. */
function node(opts: { partialTimeoutMs?: number } = {}): {
  t: SipTransports;
  got: Array<[SipMessage, Endpoint]>;
  next: () => Promise<[SipMessage, Endpoint]>;
} {
  const got: Array<[SipMessage, Endpoint]> = [];
  const waiters: Array<(v: [SipMessage, Endpoint]) => void> = [];
  let taken = 0;
  const t = new SipTransports({
    ...opts,
    onMessage: (m, from) => {
      got.push([m, from]);
      const w = waiters.shift();
      if (w) w(got[taken++]!);
    },
  });
  const next = (): Promise<[SipMessage, Endpoint]> =>
    new Promise((resolve, reject) => {
      if (taken < got.length) {
        resolve(got[taken++]!);
        return;
      }
      const timer = setTimeout(() => reject(new Error('timed out waiting for a message')), 5000);
      waiters.push((v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  return { t, got, next };
}

describe('SipTransports on loopback', () => {
  let dir: string;
  let key: Buffer;
  let cert: Buffer;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sip-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    key = readFileSync(join(dir, 'key.pem'));
    cert = readFileSync(join(dir, 'cert.pem'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('UDP over IPv4 and IPv6: request out, response back to the source', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const a = node();
      const b = node();
      const pa = await a.t.listenUdp(host);
      const pb = await b.t.listenUdp(host);
      await a.t.send(options('z9hG4bKu1'), { transport: 'UDP', address: host, port: pb.port });
      const [req, from] = await b.next();
      expect(from).toMatchObject({ transport: 'UDP', address: host, port: pa.port });
      await b.t.send(createResponse(req, 200, 'OK'), from);
      const [res] = await a.next();
      expect(res.status).toBe(200);
      await a.t.close();
      await b.t.close();
    }
  });

  it('TCP (IPv4 and IPv6): one connection is reused both ways and addressed by flow id', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const a = node();
      const b = node();
      const pb = await b.t.listenTcp(host);
      const to: Endpoint = { transport: 'TCP', address: host, port: pb.port };
      await a.t.send(options('z9hG4bKt1', 'TCP'), to);
      await a.t.send(options('z9hG4bKt2', 'TCP'), to);
      const [r1, f1] = await b.next();
      const [, f2] = await b.next();
      expect(f1.flow).toBeDefined();
      expect(f2.flow).toBe(f1.flow);
      expect(a.t.flowCount).toBe(1);
      await b.t.send(createResponse(r1, 200, 'OK'), f1);
      const [res, back] = await a.next();
      expect(res.status).toBe(200);
      expect(back.flow).toBeDefined();
      await a.t.close();
      await b.t.close();
      expect(b.t.flowCount).toBe(0);
    }
  });

  it('TCP: a Via alias parameter (RFC 5923) lets later requests to the sent-by reuse the connection', async () => {
    const a = node();
    const b = node();
    const pa = await a.t.listenTcp('127.0.0.1');
    const pb = await b.t.listenTcp('127.0.0.1');
    const req = parseMessage(
      Buffer.from(
        options('z9hG4bKal', 'TCP')
          .toString()
          .replace('h.example.com;branch', `127.0.0.1:${pa.port};alias;branch`),
      ),
    );
    await a.t.send(req, { transport: 'TCP', address: '127.0.0.1', port: pb.port });
    await b.next();
    // b sends a new request to a's advertised sent-by: no new connection is opened
    await b.t.send(options('z9hG4bKback', 'TCP'), {
      transport: 'TCP',
      address: '127.0.0.1',
      port: pa.port,
    });
    const [, from] = await a.next();
    expect(a.t.flowCount).toBe(1);
    expect(b.t.flowCount).toBe(1);
    expect(from.port).toBe(pb.port); // it came down the connection a opened to b
    await a.t.close();
    await b.t.close();
  });

  it('TCP: frames a message split across writes and answers a double-CRLF ping with a pong', async () => {
    const b = node();
    const pb = await b.t.listenTcp('127.0.0.1');
    const sock = connect(pb.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const pong = new Promise<string>((r) => sock.once('data', (d) => r(d.toString())));
    sock.write('\r\n\r\n');
    expect(await pong).toBe('\r\n');
    const bytes = options('z9hG4bKsplit', 'TCP').toBuffer();
    sock.write(bytes.subarray(0, 50));
    sock.write(bytes.subarray(50));
    const [m] = await b.next();
    expect(m.toBuffer().equals(bytes)).toBe(true);
    sock.destroy();
    await b.t.close();
  });

  it('TCP: closes a slow-loris connection that holds a partial message', async () => {
    const b = node({ partialTimeoutMs: 200 });
    const pb = await b.t.listenTcp('127.0.0.1');
    const sock = connect(pb.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const closed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('not closed')), 5000);
      sock.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    sock.on('error', () => {});
    sock.write('OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP');
    await closed;
    expect(b.t.counters.closedForLimits).toBe(1);
    await b.t.close();
  });

  it('TLS: request and response over one node:tls connection', async () => {
    const a = node();
    const b = node();
    const pb = await b.t.listenTls('127.0.0.1', 0, { key, cert });
    const flow = await a.t.connect('TLS', '127.0.0.1', pb.port, { rejectUnauthorized: false });
    await a.t.send(options('z9hG4bKtls', 'TLS'), {
      transport: 'TLS',
      address: '127.0.0.1',
      port: pb.port,
      flow,
    });
    const [req, from] = await b.next();
    expect(from.transport).toBe('TLS');
    await b.t.send(createResponse(req, 200, 'OK'), from);
    expect((await a.next())[0].status).toBe(200);
    await a.t.close();
    await b.t.close();
  });

  it('WebSocket (RFC 7118): needs the sip subprotocol; one message per frame; replies down the flow', async () => {
    const b = node();
    const pb = await b.t.listenWs('127.0.0.1');
    const ws = new WebSocket(`ws://127.0.0.1:${pb.port}`, 'sip');
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    const reply = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
    ws.send(options('z9hG4bKws', 'WS').toString());
    const [req, from] = await b.next();
    expect(from.transport).toBe('WS');
    await b.t.send(createResponse(req, 200, 'OK'), from);
    expect((await reply).startsWith('SIP/2.0 200 OK')).toBe(true);
    ws.close();
    const bad = new WebSocket(`ws://127.0.0.1:${pb.port}`, 'chat');
    const refused = await new Promise<boolean>((r) => {
      bad.once('error', () => r(true));
      bad.once('open', () => r(false));
    });
    expect(refused).toBe(true);
    await b.t.close();
  });

  it('WSS: SIP over secure WebSocket with node:https', async () => {
    const b = node();
    const pb = await b.t.listenWs('127.0.0.1', 0, { key, cert });
    const ws = new WebSocket(`wss://127.0.0.1:${pb.port}`, 'sip', { rejectUnauthorized: false });
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    const reply = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
    ws.send(options('z9hG4bKwss', 'WSS').toString());
    const [req, from] = await b.next();
    expect(from.transport).toBe('WSS');
    await b.t.send(createResponse(req, 200, 'OK'), from);
    expect((await reply).startsWith('SIP/2.0 200 OK')).toBe(true);
    ws.close();
    await b.t.close();
  });

  it('counts and drops unparseable datagrams', async () => {
    const b = node();
    const pb = await b.t.listenUdp('127.0.0.1');
    const a = node();
    await a.t.listenUdp('127.0.0.1');
    a.t.sendUdp(Buffer.from('garbage\r\n\r\n'), '127.0.0.1', pb.port);
    await a.t.send(options('z9hG4bKafter'), {
      transport: 'UDP',
      address: '127.0.0.1',
      port: pb.port,
    });
    await b.next();
    expect(b.t.counters.parseErrors).toBe(1);
    await a.t.close();
    await b.t.close();
  });

  it('answers a request that does not parse 400 with the reason, over UDP and TCP', async () => {
    const errors: string[] = [];
    const b = new SipTransports({
      onMessage: () => {},
      onParseError: (e) => errors.push(e.reason),
    });
    const pu = await b.listenUdp('127.0.0.1');
    const pt = await b.listenTcp('127.0.0.1');
    const broken = (transport: string) =>
      options(`z9hG4bK${transport}`, transport)
        .toBuffer()
        .toString('latin1')
        .replace('Max-Forwards: 70', 'Max-Forwards 70');
    const a = node();
    await a.t.listenUdp('127.0.0.1');
    // the answer is a response: it reaches onMessage of the sender
    a.t.sendUdp(Buffer.from(broken('UDP'), 'latin1'), '127.0.0.1', pu.port);
    const [udp] = await a.next();
    expect(udp.status).toBe(400);
    expect(udp.reason).toBe('Bad Request (header-syntax)');
    expect(udp.topVia()?.branch).toBe('z9hG4bKUDP');
    const flow = await a.t.connect('TCP', '127.0.0.1', pt.port);
    await a.t.send(Buffer.from(broken('TCP'), 'latin1'), {
      transport: 'TCP',
      address: '127.0.0.1',
      port: pt.port,
      flow,
    });
    const [tcp] = await a.next();
    expect(tcp.status).toBe(400);
    expect(tcp.topVia()?.branch).toBe('z9hG4bKTCP');
    expect(errors).toEqual(['header-syntax', 'header-syntax']);
    expect(b.counters.parseErrors).toBe(2);
    await a.t.close();
    await b.close();
  });
});

describe('FlowTokenCodec', () => {
  it('round-trips a flow id and refuses forged or mangled tokens', () => {
    const c = new FlowTokenCodec('0123456789abcdef0123');
    const tok = c.encode('tcp-42');
    expect(tok).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(c.decode(tok)).toBe('tcp-42');
    expect(new FlowTokenCodec('another-secret-0123456').decode(tok)).toBeUndefined();
    expect(c.decode(`${tok.slice(0, -2)}AA`)).toBeUndefined();
    expect(c.decode('!!')).toBeUndefined();
  });
});
