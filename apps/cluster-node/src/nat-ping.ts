/**
 * NAT keep-alive pings for usrloc's `NatPinger`: an OPTIONS (or a CRLF) sent straight to the
 * UA's NAT binding from the interface it registered through, and the answers matched back by
 * Call-ID.
 */
import { isSipUri, parseMessage, type SipMessage } from '@sipedge/sip';
import type { NatPinger } from '@sipedge/usrloc';
import { hostOf, popLocalRoutes, safeUri, transportOf } from './local-hops.js';
import type { Hop, SipEdge } from './sip-edge.js';

type PingSend = ConstructorParameters<typeof NatPinger>[0]['send'];

export class NatPingSender {
  readonly #edge: SipEdge;
  readonly #pings = new Map<string, (status: number) => void>();

  constructor(edge: SipEdge) {
    this.#edge = edge;
  }

  /** `NatPinger` send: OPTIONS straight to the UA's NAT binding, from the socket it used. */
  readonly send: PingSend = (ping) => {
    const c = ping.contact;
    const received = c.received === null ? undefined : safeUri(c.received);
    const target = received ?? safeUri(c.uri);
    if (target === undefined || !isSipUri(target)) return Promise.resolve(undefined);
    const iface =
      c.shtag !== null && this.#edge.service !== undefined ? this.#edge.service : this.#edge.node;
    const transport = transportOf(target);
    const hop: Hop = {
      transport,
      address: hostOf(target),
      port: target.port ?? 5060,
      iface,
    };
    if (ping.kind === 'crlf') {
      this.#edge.send(ping.payload, hop);
      return Promise.resolve({ pong: true });
    }
    const msg = parseSipSafe(ping.payload);
    if (msg === undefined) return Promise.resolve(undefined);
    popLocalRoutes(this.#edge, msg);
    msg.setFirstValue('via', this.#edge.viaFor(iface, transport));
    const callId = msg.callId();
    return new Promise((resolve) => {
      // the pinger decides when a ping is lost; this only forgets a reply that never came
      const timer = setTimeout(() => {
        this.#pings.delete(callId);
        resolve(undefined);
      }, ping.timeoutMs + 1000);
      timer.unref?.();
      this.#pings.set(callId, (status) => {
        clearTimeout(timer);
        this.#pings.delete(callId);
        resolve({ status });
      });
      this.#edge.send(msg, hop);
    });
  };

  /** A response that answers one of our pings: consumed (true), or not ours. */
  answer(res: SipMessage): boolean {
    const ping = this.#pings.get(res.callId());
    if (ping === undefined) return false;
    ping(res.status);
    return true;
  }
}

function parseSipSafe(buf: Buffer): SipMessage | undefined {
  try {
    return parseMessage(buf);
  } catch {
    return undefined;
  }
}
