// The package's StatefulProxy on one UDP socket with the smallest policy there is: every request
// goes to one fixed target (an outbound-proxy / dispatcher setup), initial INVITEs are
// record-routed. Used by the sipp interop test.
import {
  type Endpoint,
  formatVia,
  isSipUri,
  newBranch,
  type ProxyNetwork,
  type ProxyPolicy,
  preprocessRoute,
  type SipMessage,
  SipTransports,
  StatefulProxy,
  TransactionLayer,
  type Uri,
} from '../../src/index.js';

export interface RunningProxy {
  readonly port: number;
  readonly stats: { requests: number; responses: number; stateless: number };
  close(): Promise<void>;
}

export async function startProxy(target: Endpoint, host = '127.0.0.1'): Promise<RunningProxy> {
  const stats = { requests: 0, responses: 0, stateless: 0 };
  let port = 0;
  const transports: SipTransports = new SipTransports({
    onMessage: (m, from) => layer.receive(m, from),
  });
  const send = (m: SipMessage, to: Endpoint): void => {
    transports.send(m, to).catch(() => {});
  };
  const isUs = (u: Uri): boolean => isSipUri(u) && u.host === host && (u.port ?? 5060) === port;
  const network: ProxyNetwork<Endpoint> = {
    get transactions() {
      return layer;
    },
    send,
    responseHop: (_by, to) => to,
    viaFor: (_hop, branch = newBranch()) => formatVia('UDP', host, port, branch, false),
    recordRouteUri: (_hop, params) => `sip:${host}:${port};lr${params}`,
    sameInterface: () => true,
    isLocalAddress: (h, p) => h === host && (p ?? 5060) === port,
  };
  const policy: ProxyPolicy<Endpoint> = {
    route: (req) => {
      preprocessRoute(req, isUs);
      const initialInvite = req.method === 'INVITE' && req.toTag() === undefined;
      return {
        targets: [{ hop: target, direct: false }],
        recordRoute: initialInvite ? '' : undefined,
        session: false,
      };
    },
    routeAck: (req) => {
      // ACK for a 2xx: end to end, forwarded statelessly with a stable branch
      stats.stateless++;
      preprocessRoute(req, isUs);
      return { hop: target, session: false };
    },
    branchResponse: () => {
      stats.responses++;
    },
    strayResponse: () => {
      // 2xx retransmissions after the INVITE transactions ended: the proxy routes them by Via
      stats.stateless++;
      return false;
    },
  };
  const proxy = new StatefulProxy({ network, policy });
  const layer: TransactionLayer = new TransactionLayer({
    send,
    onRequest: (req, tx, from) => {
      stats.requests++;
      proxy.onRequest(req, tx, from);
    },
    onStrayResponse: (res, from) => proxy.onStrayResponse(res, from),
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
