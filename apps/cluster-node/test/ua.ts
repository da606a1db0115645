/**
 * A scripted SIP user agent on a loopback UDP socket (or one TCP connection) for the in-process
 * flow tests: it sends requests and responses as text and waits (bounded) for the messages it
 * expects.
 */
import dgram from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { parseMessage, type SipMessage, StreamFramer } from '@sipedge/sip';
import { until } from '@sipedge/test-utils';

let seq = 0;

export class TestUa {
  readonly #sock = dgram.createSocket('udp4');
  readonly #inbox: Array<{ msg: SipMessage; from: { address: string; port: number } }> = [];
  /** Where the message last returned by `expect` came from. */
  lastSource: { address: string; port: number } | undefined;
  readonly #listeners = new Set<() => void>();
  port = 0;
  readonly user: string;

  #tcp: Socket | undefined;

  constructor(user: string) {
    this.user = user;
    this.#sock.on('message', (buf, rinfo) =>
      this.#receive(buf, { address: rinfo.address, port: rinfo.port }, true),
    );
  }

  #receive(buf: Buffer, from: { address: string; port: number }, datagram: boolean): void {
    try {
      this.#inbox.push({ msg: parseMessage(buf, { datagram }), from });
    } catch {
      return;
    }
    for (const l of this.#listeners) l();
  }

  /** Talks over one TCP connection to the node instead of UDP (Via and Contact say TCP). */
  async connectTcp(port: number): Promise<this> {
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const framer = new StreamFramer();
    sock.on('data', (chunk) => {
      for (const f of framer.push(chunk)) {
        if (f.type === 'message') this.#receive(f.data, { address: '127.0.0.1', port }, false);
      }
    });
    this.#tcp = sock;
    this.port = sock.localPort ?? 0;
    return this;
  }

  get transport(): 'UDP' | 'TCP' {
    return this.#tcp === undefined ? 'UDP' : 'TCP';
  }

  async bind(): Promise<this> {
    await new Promise<void>((r) => this.#sock.bind(0, '127.0.0.1', () => r()));
    this.port = this.#sock.address().port;
    return this;
  }

  get contact(): string {
    const tp = this.#tcp === undefined ? '' : ';transport=tcp';
    return `sip:${this.user}@127.0.0.1:${this.port}${tp}`;
  }

  send(text: string | SipMessage, port: number): void {
    this.sendTo(text, '127.0.0.1', port);
  }

  sendTo(text: string | SipMessage, host: string, port: number): void {
    const buf = typeof text === 'string' ? Buffer.from(text, 'latin1') : text.toBuffer();
    if (this.#tcp !== undefined) this.#tcp.write(buf);
    else this.#sock.send(buf, port, host);
  }

  /** The next message matching `pick` (kept messages that do not match stay in the inbox). */
  async expect(
    what: string,
    pick: (m: SipMessage) => boolean,
    timeoutMs = 5000,
  ): Promise<SipMessage> {
    const e = await until(
      () => {
        const i = this.#inbox.findIndex((e) => pick(e.msg));
        return i >= 0 ? this.#inbox.splice(i, 1)[0] : undefined;
      },
      {
        what: () => {
          const seen = this.#inbox.map(({ msg: m }) => (m.isRequest ? m.method : String(m.status)));
          return `${this.user} to get ${what} (inbox: ${seen.join(',')})`;
        },
        timeoutMs,
        wake: (recheck) => {
          this.#listeners.add(recheck);
          return () => this.#listeners.delete(recheck);
        },
      },
    );
    this.lastSource = e.from;
    return e.msg;
  }

  response(status: number, method: string, timeoutMs?: number): Promise<SipMessage> {
    return this.expect(
      `${status} to ${method}`,
      (m) => !m.isRequest && m.status === status && m.cseq().method === method,
      timeoutMs,
    );
  }

  request(method: string, timeoutMs?: number): Promise<SipMessage> {
    return this.expect(method, (m) => m.isRequest && m.method === method, timeoutMs);
  }

  /** Nothing matching `pick` arrives within `ms` (used after the event that would cause it). */
  async none(what: string, pick: (m: SipMessage) => boolean, ms: number): Promise<void> {
    // expect() fails only when nothing matching arrives in time: what this wants
    const m = await this.expect(what, pick, ms).catch(() => undefined);
    if (m !== undefined) {
      throw new Error(
        `${this.user}: unexpected ${what}: ${m.toBuffer().toString('latin1').split('\r\n')[0]}`,
      );
    }
  }

  close(): void {
    this.#sock.close();
    this.#tcp?.destroy();
  }

  branch(): string {
    return `z9hG4bK-ua-${this.user}-${++seq}`;
  }

  via(branch = this.branch()): string {
    return `Via: SIP/2.0/${this.transport} 127.0.0.1:${this.port};branch=${branch};rport`;
  }
}

export function sdp(port: number, address = '127.0.0.1'): string {
  return [
    'v=0',
    `o=- 1 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    '',
  ].join('\r\n');
}

/** A response to `req` with the given status, copying Via/From/To/Call-ID/CSeq. */
export function answer(
  req: SipMessage,
  status: number,
  reason: string,
  options: { toTag?: string; contact?: string; body?: string; extra?: string[] } = {},
): string {
  const vias = req.headers.filter((h) => h.key === 'via').map((h) => `${h.name}: ${h.value}`);
  const rr = req.headers
    .filter((h) => h.key === 'record-route')
    .map((h) => `${h.name}: ${h.value}`);
  const to = req.header('to') ?? '';
  const body = options.body ?? '';
  return [
    `SIP/2.0 ${status} ${reason}`,
    ...vias,
    ...(status > 100 ? rr : []),
    `From: ${req.header('from')}`,
    `To: ${to}${options.toTag !== undefined && !to.includes('tag=') ? `;tag=${options.toTag}` : ''}`,
    `Call-ID: ${req.callId()}`,
    `CSeq: ${req.header('cseq')}`,
    ...(options.contact === undefined ? [] : [`Contact: <${options.contact}>`]),
    ...(options.extra ?? []),
    ...(body === '' ? [] : ['Content-Type: application/sdp']),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}
