/**
 * A small SIP UA over UDP for e2e checks that sipp does not cover well: REGISTER with a chosen
 * (e.g. private, NATed-looking) Contact, OPTIONS probes of an address (failover timing), and
 * answering the OPTIONS NAT pings a registrar sends to its contacts (recorded with time and
 * source). Plain text messages; only what the tests need is parsed.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { peerPort } from '@sipedge/test-utils';
import type { Address } from './node.js';

export interface SipResponse {
  code: number;
  text: string;
}

export interface ReceivedRequest {
  method: string;
  at: number;
  from: Address;
  text: string;
}

const token = (n = 8) => randomBytes(n).toString('hex');

function header(text: string, name: string): string | undefined {
  const re = new RegExp(`^${name}[ \\t]*:[ \\t]*(.*)$`, 'im');
  return re.exec(text)?.[1]?.trim();
}

export class SipUdpUa {
  private readonly socket = dgram.createSocket('udp4');
  private readonly waiting = new Map<string, (r: SipResponse) => void>();
  /** Requests received (NAT pings, calls), oldest first. */
  readonly requests: ReceivedRequest[] = [];
  port = 0;

  /** Binds `host:port` (port 0: the kernel picks one). */
  async bind(host = '127.0.0.1', port = 0): Promise<this> {
    this.socket.on('message', (m: Buffer, rinfo) => this.onMessage(m.toString('latin1'), rinfo));
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(port, host, () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
    this.port = this.socket.address().port;
    return this;
  }

  /**
   * Binds a port from this process's leased block below the kernel's ephemeral range
   * (`peerPort()`), so that once this UA closes, the port can be handed to another program
   * (sipp) without a concurrent `bind(0)`, or another process's peer port, taking it.
   */
  static async outsideEphemeral(): Promise<SipUdpUa> {
    for (let i = 0; i < 10; i++) {
      const ua = new SipUdpUa();
      try {
        return await ua.bind('127.0.0.1', await peerPort());
      } catch {
        ua.socket.close();
      }
    }
    throw new Error('no free UDP port from peerPort() in 10 tries');
  }

  private onMessage(text: string, rinfo: dgram.RemoteInfo): void {
    const first = text.slice(0, text.indexOf('\r\n'));
    const status = /^SIP\/2\.0 (\d{3})/.exec(first);
    if (status !== null) {
      const key = `${header(text, 'Call-ID') ?? header(text, 'i')}|${header(text, 'CSeq')}`;
      const code = Number(status[1]);
      if (code < 200) return;
      this.waiting.get(key)?.({ code, text });
      return;
    }
    const method = /^([A-Z]+) /.exec(first)?.[1];
    if (method === undefined) return;
    this.requests.push({
      method,
      at: Date.now(),
      from: { host: rinfo.address, port: rinfo.port },
      text,
    });
    if (method === 'ACK') return;
    // answer 200 with the request's Via/From/To/Call-ID/CSeq
    const copy = text
      .split('\r\n')
      .filter((l) => /^(Via|v|From|f|To|t|Call-ID|i|CSeq)[ \t]*:/i.test(l));
    const reply = [
      'SIP/2.0 200 OK',
      ...copy.map((l) =>
        /^(To|t)[ \t]*:/i.test(l) && !/;tag=/i.test(l) ? `${l};tag=${token(4)}` : l,
      ),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.socket.send(reply, rinfo.port, rinfo.address);
  }

  /**
   * Sends a request and resolves with its final response, retransmitting every 500 ms (as
   * RFC 3261 timer A, capped) until `timeoutMs`; resolves `undefined` on timeout.
   */
  async request(
    to: Address,
    build: (via: string, callId: string) => { text: string; cseq: string },
    timeoutMs = 4000,
  ): Promise<SipResponse | undefined> {
    const callId = `${token()}@e2e`;
    const via = `SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${token()};rport`;
    const { text, cseq } = build(via, callId);
    const key = `${callId}|${cseq}`;
    return new Promise((resolve) => {
      const send = () => this.socket.send(text, to.port, to.host);
      const timer = setInterval(send, 500);
      const giveUp = setTimeout(() => done(undefined), timeoutMs);
      const done = (r: SipResponse | undefined) => {
        clearInterval(timer);
        clearTimeout(giveUp);
        this.waiting.delete(key);
        resolve(r);
      };
      this.waiting.set(key, done);
      send();
    });
  }

  /** REGISTER `user@domain` with the given Contact host:port (default this socket). */
  register(
    to: Address,
    user: string,
    options: { domain?: string; contact?: string; expires?: number; timeoutMs?: number } = {},
  ): Promise<SipResponse | undefined> {
    const domain = options.domain ?? 'e2e.test';
    const contact = options.contact ?? `127.0.0.1:${this.port}`;
    return this.request(
      to,
      (via, callId) => ({
        cseq: '1 REGISTER',
        text: [
          `REGISTER sip:${domain} SIP/2.0`,
          `Via: ${via}`,
          'Max-Forwards: 70',
          `From: <sip:${user}@${domain}>;tag=${token(4)}`,
          `To: <sip:${user}@${domain}>`,
          `Call-ID: ${callId}`,
          'CSeq: 1 REGISTER',
          `Contact: <sip:${user}@${contact}>`,
          `Expires: ${options.expires ?? 3600}`,
          'User-Agent: sipedge-e2e',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      }),
      options.timeoutMs,
    );
  }

  /** One OPTIONS to `to`, no retransmission; `undefined` when nothing answered in `timeoutMs`. */
  options(to: Address, timeoutMs = 300): Promise<SipResponse | undefined> {
    return this.request(
      to,
      (via, callId) => ({
        cseq: '1 OPTIONS',
        text: [
          `OPTIONS sip:${to.host}:${to.port} SIP/2.0`,
          `Via: ${via}`,
          'Max-Forwards: 70',
          `From: <sip:probe@e2e.test>;tag=${token(4)}`,
          `To: <sip:${to.host}:${to.port}>`,
          `Call-ID: ${callId}`,
          'CSeq: 1 OPTIONS',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      }),
      timeoutMs,
    );
  }

  close(): void {
    for (const done of this.waiting.values()) done({ code: 0, text: 'closed' });
    this.socket.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
