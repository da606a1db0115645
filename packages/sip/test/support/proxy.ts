// A small stateful proxy built on @sipedge/sip, used by the sipp interop test. It forwards every
// request to one fixed target (an outbound-proxy / dispatcher setup), record-routes dialogs,
// relays responses through its transactions, and forwards ACK for 2xx and stray 2xx statelessly.
import {
  addRecordRoute,
  type ClientTransaction,
  checkProxyRequest,
  createRequest,
  createResponse,
  decrementMaxForwards,
  type Endpoint,
  fixTopVia,
  formatVia,
  isSipUri,
  newBranch,
  preprocessRoute,
  responseDestination,
  type ServerTransaction,
  type SipMessage,
  SipTransports,
  statelessBranch,
  TransactionLayer,
} from '../../src/index.js';

export interface RunningProxy {
  readonly port: number;
  readonly stats: { requests: number; responses: number; stateless: number };
  close(): Promise<void>;
}

export async function startProxy(target: Endpoint, host = '127.0.0.1'): Promise<RunningProxy> {
  const stats = { requests: 0, responses: 0, stateless: 0 };
  let port = 0;
  const forwarded = new Map<ServerTransaction, ClientTransaction>();
  const transports: SipTransports = new SipTransports({
    onMessage: (m, from) => layer.receive(m, from),
  });
  const send = (m: SipMessage, to: Endpoint): void => {
    transports.send(m, to).catch(() => {});
  };
  const isUs = (u: Parameters<Parameters<typeof preprocessRoute>[1]>[0]): boolean =>
    isSipUri(u) && u.host === host && (u.port ?? 5060) === port;

  const respond = (tx: ServerTransaction, res: SipMessage): void => {
    if (tx.state === 'trying' || tx.state === 'proceeding') tx.respond(res);
  };

  const layer: TransactionLayer = new TransactionLayer({
    send,
    onRequest: (req, tx, from) => {
      stats.requests++;
      const rej = checkProxyRequest(req);
      if (rej !== undefined) {
        if (tx !== undefined)
          respond(tx, createResponse(req, rej.status, rej.reason, { toTag: 'px' }));
        return;
      }
      fixTopVia(req, from.address, from.port);
      preprocessRoute(req, isUs);
      decrementMaxForwards(req);
      if (tx === undefined) {
        // ACK for a 2xx: end to end, forwarded statelessly with a stable branch
        stats.stateless++;
        req.prependVia(formatVia('UDP', host, port, statelessBranch(req), false));
        send(req, target);
        return;
      }
      if (req.method === 'CANCEL') {
        respond(tx, createResponse(req, 200, 'OK'));
        const inv = layer.findInviteForCancel(req);
        const client = inv === undefined ? undefined : forwarded.get(inv);
        if (client !== undefined && client.state === 'proceeding') {
          const c = client.request;
          const cancel = createRequest({
            method: 'CANCEL',
            uri: c.requestUri,
            headers: [
              ['Via', c.values('via')[0]!],
              ['Max-Forwards', '70'],
              ['From', c.header('from')!],
              ['To', c.header('to')!],
              ['Call-ID', c.callId()],
              ['CSeq', `${c.cseq().seq} CANCEL`],
            ],
          });
          layer.request(cancel, target);
        }
        return;
      }
      if (req.method === 'INVITE') respond(tx, createResponse(req, 100, 'Trying'));
      if (req.method === 'INVITE' && req.toTag() === undefined)
        addRecordRoute(req, `sip:${host}:${port};lr`);
      req.prependVia(formatVia('UDP', host, port, newBranch(), false));
      const client = layer.request(req, target, {
        onResponse: (res) => {
          stats.responses++;
          res.removeTopVia();
          if (res.status === 100) return;
          respond(tx, res);
        },
        onTimeout: () =>
          respond(tx, createResponse(tx.request, 408, 'Request Timeout', { toTag: 'px' })),
      });
      forwarded.set(tx, client);
      const cleanup = setTimeout(() => forwarded.delete(tx), 64_000);
      cleanup.unref();
    },
    onStrayResponse: (res) => {
      // 2xx retransmissions after the INVITE transactions ended: route by Via, statelessly
      const top = res.topVia();
      if (top === undefined || top.host !== host || top.port !== port) return;
      res.removeTopVia();
      const next = res.topVia();
      if (next === undefined) return;
      stats.stateless++;
      send(res, responseDestination(next));
    },
  });
  port = (await transports.listenUdp(host, 0)).port;
  return {
    port,
    stats,
    close: async () => {
      layer.destroy();
      await transports.close();
    },
  };
}
