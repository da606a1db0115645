/**
 * Media endpoints for e2e tests: a UDP socket on 127.0.0.1 that sends RTP packets (12-byte
 * header, PCMU payload) and counts the RTP packets it receives, and a helper that sets up a
 * call through an rtpproxy control socket (U for the caller, L for the callee).
 */
import dgram from 'node:dgram';
import { RtppClient } from '@sipedge/rtpp';
import { notYet, until } from '@sipedge/test-utils';

export class RtpEndpoint {
  private readonly socket = dgram.createSocket('udp4');
  private seq = 0;
  readonly ssrc = Math.floor(Math.random() * 0xffffffff);
  received = 0;
  port = 0;

  async bind(): Promise<this> {
    this.socket.on('message', (m: Buffer) => {
      if (m.length >= 12 && m[0] === 0x80) this.received++;
    });
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
    this.port = this.socket.address().port;
    return this;
  }

  /** Sends `n` RTP packets to 127.0.0.1:`port`, one per tick. */
  async send(port: number, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const p = Buffer.alloc(12 + 160, 0xff);
      p[0] = 0x80;
      p[1] = 0;
      p.writeUInt16BE(this.seq++ & 0xffff, 2);
      p.writeUInt32BE((this.seq * 160) >>> 0, 4);
      p.writeUInt32BE(this.ssrc >>> 0, 8);
      await new Promise<void>((r, j) =>
        this.socket.send(p, port, '127.0.0.1', (e) => (e ? j(e) : r())),
      );
      await new Promise((r) => setImmediate(r));
    }
  }

  async waitReceived(n: number, ms = 5000): Promise<void> {
    await until(() => this.received >= n || notYet(`${this.received} so far`), {
      what: `${n} RTP packets at :${this.port}`,
      timeoutMs: ms,
      intervalMs: 20,
    });
  }

  close(): void {
    this.socket.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export interface RtpCall {
  callId: string;
  fromTag: string;
  toTag: string;
  /** Port the callee sends to (U reply: goes into the SDP offered to the callee). */
  calleeSendsTo: number;
  /** Port the caller sends to (L reply: goes into the SDP answer to the caller). */
  callerSendsTo: number;
}

/** U then L through `control` for a call between two local endpoints. */
export async function openRtpCall(
  control: RtppClient,
  callId: string,
  caller: RtpEndpoint,
  callee: RtpEndpoint,
): Promise<RtpCall> {
  const fromTag = `f-${callId}`;
  const toTag = `t-${callId}`;
  const u = await control.send(`U ${callId} 127.0.0.1 ${caller.port} ${fromTag}`);
  if (u.kind !== 'port' || u.port === 0) throw new Error(`U ${callId}: ${JSON.stringify(u)}`);
  const l = await control.send(`L ${callId} 127.0.0.1 ${callee.port} ${fromTag} ${toTag}`);
  if (l.kind !== 'port' || l.port === 0) throw new Error(`L ${callId}: ${JSON.stringify(l)}`);
  return { callId, fromTag, toTag, calleeSendsTo: u.port, callerSendsTo: l.port };
}

/** Sends `n` packets each way and waits until both ends got them all. */
export async function exchangeRtp(
  call: RtpCall,
  caller: RtpEndpoint,
  callee: RtpEndpoint,
  n = 10,
): Promise<void> {
  const a = caller.received;
  const b = callee.received;
  await caller.send(call.callerSendsTo, n);
  await callee.send(call.calleeSendsTo, n);
  await callee.waitReceived(b + n);
  await caller.waitReceived(a + n);
}

export { RtppClient };
