import { SipTransports } from '@sipedge/sip';
import type { Registrar } from '../src/index.js';

/** SIP transports that answer every REGISTER through `registrar`, received = the sender. */
export function registrarTransports(registrar: Registrar): SipTransports {
  const server = new SipTransports({
    onMessage: (msg, from) => {
      if (msg.isRequest && msg.method === 'REGISTER') {
        void server.send(
          registrar.save(msg, { received: `sip:${from.address}:${from.port}` }),
          from,
        );
      }
    },
  });
  return server;
}
