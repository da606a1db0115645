// A small UAS built on @sipedge/sip, used by the sipp interop test: answers INVITE with
// 100/180/200 (retransmitting the 200 until the ACK, RFC 3261 §13.3.1.4) and BYE/others with 200.
import {
  createResponse,
  type Endpoint,
  type SipMessage,
  SipTransports,
  TransactionLayer,
} from '../../src/index.js';

export interface RunningUas {
  readonly port: number;
  readonly stats: { invites: number; acks: number; byes: number };
  close(): Promise<void>;
}

const SDP =
  'v=0\r\no=uas 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n';

export async function startUas(
  host = '127.0.0.1',
  transport: 'UDP' | 'TCP' = 'UDP',
): Promise<RunningUas> {
  const stats = { invites: 0, acks: 0, byes: 0 };
  const pending = new Map<string, NodeJS.Timeout>();
  let port = 0;
  let tag = 0;
  const transports: SipTransports = new SipTransports({
    onMessage: (m, from) => layer.receive(m, from),
  });
  const send = (m: SipMessage, to: Endpoint): void => {
    transports.send(m, to).catch(() => {});
  };
  const layer: TransactionLayer = new TransactionLayer({
    send,
    onRequest: (req, tx, from) => {
      if (tx === undefined) {
        if (req.method === 'ACK') {
          stats.acks++;
          const t = pending.get(req.callId());
          if (t !== undefined) clearTimeout(t);
          pending.delete(req.callId());
        }
        return;
      }
      if (req.method === 'INVITE') {
        stats.invites++;
        const toTag = `uas${++tag}`;
        tx.respond(createResponse(req, 100, 'Trying'));
        tx.respond(createResponse(req, 180, 'Ringing', { toTag }));
        const ok = createResponse(req, 200, 'OK', {
          toTag,
          headers: [
            ['Contact', `<sip:uas@${host}:${port}${transport === 'TCP' ? ';transport=tcp' : ''}>`],
            ['Content-Type', 'application/sdp'],
          ],
          body: Buffer.from(SDP),
        });
        tx.respond(ok);
        let interval = 500;
        let elapsed = 0;
        if (transport !== 'UDP') return; // reliable transports do not retransmit the 200
        const again = (): void => {
          if (elapsed >= 32_000) return;
          send(ok, from);
          elapsed += interval;
          interval = Math.min(2 * interval, 4000);
          pending.set(req.callId(), setTimeout(again, interval));
        };
        pending.set(req.callId(), setTimeout(again, interval));
        return;
      }
      if (req.method === 'BYE') stats.byes++;
      tx.respond(createResponse(req, 200, 'OK', { toTag: `uas${++tag}` }));
    },
  });
  port = (
    transport === 'UDP' ? await transports.listenUdp(host, 0) : await transports.listenTcp(host, 0)
  ).port;
  return {
    port,
    stats,
    close: async () => {
      for (const t of pending.values()) clearTimeout(t);
      layer.destroy();
      await transports.close();
    },
  };
}
