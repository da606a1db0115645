// Over 500 lines: the routing policy of every request kind reads in one place (REGISTER, lookup, loose routing, ACK).
/**
 * The routing policy of the SIP edge: what an OpenSIPS edge/registrar script decides, as code.
 * The protocol work (transactions, forking, best response, CANCEL, stateless ACK and 2xx,
 * drain) is @sipedge/sip's `StatefulProxy`; this says where requests go.
 *
 * - REGISTER: saved by the usrloc registrar (group commit per event-loop turn) with the NAT
 *   source as `received`, the receiving socket, the sharing tag of the service address, and
 *   this node's own Path hop carrying the source (`;received=`, `;flow=`), so requests for the
 *   user come back through the interface that holds the UA's NAT binding or connection. In
 *   edge mode the REGISTER gets the same Path and goes to the upstream registrar.
 * - initial requests to a served domain: `lookup`, then parallel forking to every binding over
 *   its Path route set; on a local miss with federation on, forking to the other sites that
 *   hold the AoR (their 404 cleans the entry); other initial requests: loose routing to the
 *   Request-URI / Route.
 *   Record-Route is added (two of them when the request changes interface).
 * - in-dialog requests follow their route set; so does the ACK for a 2xx.
 * - NAT: a UA's private Contact is rewritten to its source (requests straight from it, and
 *   responses from a UA reached directly); NAT pings go out by the socket the UA used.
 * - media: offer/answer/delete through the embedded rtp-cluster (media.ts). Only the node
 *   where a dialog enters the cluster anchors it (its Record-Route carries `;ma`), so a call
 *   crossing two nodes is relayed once.
 */

import type { Logger } from '@sipedge/core';
import type { Counter, StatisticsRegistry } from '@sipedge/mi';
import {
  type AckForwarding,
  copyForTarget,
  type Forwarding,
  isSipUri,
  type LocalReply,
  type ProxyPolicy,
  type ProxyTarget,
  parseUri,
  type RouteDecision,
  type SipMessage,
  SipParseError,
  type SipUri,
  StatefulProxy,
  type Uri,
} from '@sipedge/sip';
import type { Registrar } from '@sipedge/usrloc';
import { FLAG_NAT, type RegisterContext } from '@sipedge/usrloc';
import type { BadInput } from './bad-input.js';
import { type NodeConfig, parseAddress } from './config.js';
import { FEDERATION_HEADER, type FederationRouting, siteTarget } from './federation-routing.js';
import { hostOf, type LocalHop, popLocalRoutes, safeUri, transportOf } from './local-hops.js';
import type { MediaAnchor } from './media.js';
import { behindNat, fixNatedContact } from './nat.js';
import { NatPingSender } from './nat-ping.js';
import { edgeNetwork, type Hop, INTERNAL_ERRORS_HELP, type SipEdge } from './sip-edge.js';

export interface RouterOptions {
  readonly config: NodeConfig['sip'];
  readonly edge: SipEdge;
  readonly registrar?: Registrar;
  readonly media?: MediaAnchor;
  /** Sharing tag stored on contacts registered through the service address. */
  readonly serviceTag?: string;
  /**
   * May a REGISTER be answered 200 now? False while the node waits for its first sync with no
   * other node reachable (the binding would live here alone): such REGISTERs get 503.
   */
  readonly mayAcknowledge?: () => boolean;
  readonly stats: StatisticsRegistry;
  readonly logger: Logger;
  /** Counts (by reason) and logs the requests refused for what they say. */
  readonly badInput?: BadInput;
  /** Federation of sites: other sites are asked on a local miss. */
  readonly federation?: FederationRouting;
}

const UA_ALLOW =
  'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, PRACK, NOTIFY, REFER, MESSAGE, SUBSCRIBE';

/**
 * What a REGISTER for this registrar must pass before `save` (which checks To, Contact,
 * Expires, Path and CSeq order itself, with OpenSIPS's replies): the headers a reply needs,
 * CSeq naming REGISTER, Max-Forwards not exhausted, a sip/sips Request-URI. Lighter than the
 * proxy's full validation, which parses every header of every REGISTER a second time. A
 * malformed request throws its SipParseError (answered 400 with the reason, and counted).
 */
function registerCheck(req: SipMessage): { status: number; reason: string } | undefined {
  for (const key of ['to', 'from', 'call-id', 'cseq', 'via']) {
    if (!req.has(key)) throw new SipParseError('header-missing', `no ${key} header`);
  }
  for (const key of ['to', 'from', 'call-id', 'cseq']) {
    if (req.rows(key).length > 1) throw new SipParseError('header-repeated', `${key} repeated`);
  }
  // a reply copies To (tagged) and From: both must read
  req.to();
  req.from();
  if (req.topVia() === undefined) throw new SipParseError('via', 'empty Via');
  if (req.callId().length === 0) throw new SipParseError('header-syntax', 'empty Call-ID');
  if (req.cseq().method !== 'REGISTER') {
    throw new SipParseError('cseq-method', 'CSeq method is not REGISTER');
  }
  if (req.maxForwards() === 0) return { status: 483, reason: 'Too Many Hops' };
  if (!/^sips?:/i.test(req.requestUri)) return { status: 416, reason: 'Unsupported URI Scheme' };
  return undefined;
}

const OPTIONS_OK: LocalReply = {
  status: 200,
  reason: 'OK',
  headers: [
    ['Allow', UA_ALLOW],
    ['Accept', 'application/sdp'],
  ],
};
const NOT_FOUND: LocalReply = { status: 404, reason: 'Not Found' };
const NO_TRANSACTION: LocalReply = { status: 481, reason: 'Call/Transaction Does Not Exist' };
const UNAVAILABLE: LocalReply = { status: 480, reason: 'Temporarily Unavailable' };
const NOT_IMPLEMENTED: LocalReply = { status: 501, reason: 'Not Implemented' };

export class Router implements ProxyPolicy<Hop> {
  /** The stateful proxy this policy routes for: the SIP edge's request handler. */
  readonly proxy: StatefulProxy<Hop>;
  readonly #o: RouterOptions;
  readonly #edge: SipEdge;
  readonly #log: Logger;
  readonly #pendingRegisters: { req: SipMessage; from: Hop; ctx: RegisterContext }[] = [];
  #flushScheduled = false;
  readonly #pinger: NatPingSender;
  readonly #c: Record<'registers' | 'lookupMiss' | 'drained' | 'alone', Counter>;
  /** The branches forwarded to another site: their 404 cleans the site's entry. */
  readonly #siteBranches = new WeakMap<ProxyTarget<Hop>, { aor: string; site: string }>();

  constructor(options: RouterOptions) {
    this.#o = options;
    this.#edge = options.edge;
    this.#log = options.logger;
    this.#pinger = new NatPingSender(options.edge);
    const s = options.stats;
    const c = (name: string, help: string): Counter => s.counter('sip', name, help);
    const registers = c('registers', 'REGISTER requests taken by the registrar');
    const forwarded = c('requests_forwarded', 'Requests the proxy forwarded');
    const replied = c('local_replies', 'Replies this node made itself');
    const lookupMiss = c('lookup_404', 'Requests answered 404: the user is not registered');
    const cancels = c('cancels', 'CANCEL requests received');
    const drained = c('drain_503', 'New requests answered 503 while the node drains');
    const stray = c('stray_responses_dropped', 'Responses dropped: no transaction wanted them');
    const alone = c(
      'register_503_unreplicated',
      'REGISTER requests answered 503: no other node reachable to hold a replica',
    );
    this.#c = { registers, lookupMiss, drained, alone };
    this.proxy = new StatefulProxy({
      network: edgeNetwork(options.edge),
      policy: this,
      ...(options.media === undefined ? {} : { session: options.media }),
      inviteTimeoutMs: options.config.fr_inv_timeout * 1000,
      logger: options.logger,
      counters: {
        forwarded,
        replied,
        cancels,
        drained,
        stray,
        // the edge counts its own drops in this counter too (one series: our faults)
        internalErrors: c('internal_errors', INTERNAL_ERRORS_HELP),
      },
      ...(options.badInput === undefined ? {} : { onBadInput: options.badInput.record }),
    });
  }

  // ------------------------------------------------------------------ requests

  route(req: SipMessage, from: Hop): RouteDecision<Hop> | Promise<RouteDecision<Hop>> {
    const inDialog = req.toTag() !== undefined;
    // straight from a UA behind NAT: its private Contact becomes its NAT binding, so that
    // in-dialog requests towards it reach it (nathelper fix_nated_contact)
    if (req.vias().length === 1 && from.transport.toUpperCase() === 'UDP') {
      fixNatedContact(req, from);
    }
    const local = popLocalRoutes(this.#edge, req);
    const ruri = safeUri(req.requestUri);
    const toMe =
      ruri !== undefined &&
      isSipUri(ruri) &&
      this.#edge.isLocalAddress(ruri.host, ruri.port) &&
      req.routes().length === 0;

    if (req.method === 'REGISTER' && req.routes().length === 0) {
      // edge mode (registrar mode answered it statelessly already)
      return this.#register(req, from);
    }
    if (toMe && local.length === 0 && (ruri as SipUri).user === null) {
      if (req.method === 'OPTIONS') return OPTIONS_OK;
      return inDialog ? NO_TRANSACTION : NOT_FOUND;
    }
    const pathHop = local.find((l) => l.path);
    const anchoredHere = local.some((l) => l.media);

    if (inDialog && toMe && local.length === 0) {
      // an in-dialog request from a UA that ignored Record-Route (sipp's built-in uac does):
      // its Request-URI names us, so the callee is found again by lookup
      return this.#lookupAndFork(req, from);
    }
    if (inDialog || pathHop !== undefined || req.routes().length > 0) {
      // in-dialog, a Path hop back to a UA, or a pre-loaded route: follow it
      return this.#forwarding(
        req,
        [this.#target(req, pathHop, from)],
        !inDialog && this.#o.config.record_route,
        inDialog ? anchoredHere : false,
      );
    }
    // initial request without a route
    if (this.#servesDomain(ruri)) {
      if (this.#o.config.mode === 'edge') {
        return this.#forwarding(
          req,
          [this.#upstreamTarget(from)],
          this.#o.config.record_route,
          true,
        );
      }
      return this.#lookupAndFork(req, from);
    }
    return this.#forwarding(
      req,
      [this.#target(req, undefined, from)],
      this.#o.config.record_route,
      true,
    );
  }

  /** Forwarding to `targets`; `anchor`: this node anchors the media (if it has relays). */
  #forwarding(
    req: SipMessage,
    targets: ProxyTarget<Hop>[],
    recordRoute: boolean,
    anchor: boolean,
  ): Forwarding<Hop> {
    const session = anchor && this.#o.media !== undefined;
    return {
      targets,
      recordRoute: recordRoute ? (session && req.method === 'INVITE' ? ';ma' : '') : undefined,
      session,
    };
  }

  #servesDomain(ruri: Uri | undefined): boolean {
    if (ruri === undefined || !isSipUri(ruri) || ruri.user === null) return false;
    const domains = this.#o.config.domains;
    if (domains.length === 0) return true;
    const h = hostOf(ruri).toLowerCase();
    return (
      domains.some((d) => d.toLowerCase() === h) || this.#edge.isLocalAddress(ruri.host, ruri.port)
    );
  }

  /** The next hop of a request: a Path hop's UA, else the top Route, else the Request-URI. */
  #target(req: SipMessage, pathHop: LocalHop | undefined, from: Hop): ProxyTarget<Hop> {
    return { hop: this.#hop(req, pathHop, from), direct: this.#direct(req, pathHop) };
  }

  /** Is the next hop the UA itself (its address from our Path hop, or its Request-URI)? */
  #direct(req: SipMessage, pathHop: LocalHop | undefined): boolean {
    return pathHop?.received !== undefined || req.routes().length === 0;
  }

  #hop(req: SipMessage, pathHop: LocalHop | undefined, from: Hop): Hop {
    if (pathHop?.received !== undefined) {
      const iface = pathHop.iface ?? from.iface;
      return {
        transport: pathHop.received.transport,
        address: pathHop.received.address,
        port: pathHop.received.port,
        ...(pathHop.flow !== undefined && iface.transports.flow(pathHop.flow) !== undefined
          ? { flow: pathHop.flow }
          : {}),
        iface,
      };
    }
    const top = req.routes()[0];
    // a URI that does not parse throws its SipParseError: the proxy answers 400 with the reason
    const u = parseUri(top === undefined ? req.requestUri : top.uri);
    if (!isSipUri(u)) {
      throw new SipParseError('uri', `next hop ${u.scheme}: is not a SIP URI`, 416);
    }
    const transport = transportOf(u);
    return {
      transport,
      address: hostOf(u),
      port: u.port ?? (transport === 'TLS' ? 5061 : 5060),
      // a Path hop of ours leaves by the interface the UA registered through
      iface: pathHop?.iface ?? from.iface,
    };
  }

  #upstreamTarget(from: Hop): ProxyTarget<Hop> {
    const up = this.#o.config.upstream!;
    const { host, port } = parseAddress(up.address);
    return {
      hop: {
        transport: up.proto.toUpperCase(),
        address: host,
        port,
        iface: from.iface,
      },
      direct: false,
    };
  }

  // ------------------------------------------------------------------ registrar

  /**
   * This node's Path hop (`;pt`) for a UA reached at `from`: with the source address
   * (`;received=`) when the UA is behind NAT, and the connection (`;flow=`) on streams.
   */
  #ownPath(from: Hop, nat: boolean): string {
    const t = from.transport.toLowerCase();
    let params = ';pt';
    if (nat || from.flow !== undefined) {
      const host = from.address.includes(':') ? `[${from.address}]` : from.address;
      const src = `sip:${host}:${from.port}${t === 'udp' ? '' : `;transport=${t}`}`;
      params += `;received=${encodeURIComponent(src)}`;
    }
    if (from.flow !== undefined) params += `;flow=${encodeURIComponent(from.flow)}`;
    return `<${this.#edge.uriFor(from.iface, 'udp', params)}>`;
  }

  /**
   * REGISTERs for this registrar are answered statelessly, as OpenSIPS and Kamailio do
   * (`save()` replies through sl): no transaction is kept for 32 s per REGISTER; a
   * retransmission is recognised by the registrar (same Call-ID and CSeq within `cseq_delay`)
   * and answered 200 again without a change. Returns false for what needs a transaction.
   */
  stateless(req: SipMessage, from: Hop): boolean {
    if (req.method !== 'REGISTER' || this.#o.config.mode !== 'registrar') return false;
    if (this.#o.registrar === undefined) return false;
    let routes: string[];
    try {
      routes = req.values('route');
    } catch {
      return false; // the transaction layer answers the parse error
    }
    for (const r of routes) {
      const u = safeUri(r.replace(/^[^<]*<|>.*$/g, ''));
      if (u === undefined || !isSipUri(u) || !this.#edge.isLocalAddress(u.host, u.port))
        return false;
    }
    let rejection: { status: number; reason: string } | undefined;
    try {
      rejection = registerCheck(req);
    } catch (err) {
      if (!(err instanceof SipParseError)) throw err;
      this.#o.badInput?.record(err, from);
      rejection = { status: err.status, reason: err.reasonPhrase };
    }
    if (rejection !== undefined) {
      this.proxy.reply(from, req, rejection.status, rejection.reason);
      return true;
    }
    if (this.proxy.draining) {
      this.#c.drained.inc();
      this.proxy.reply(from, req, 503, 'Service Unavailable', [['Retry-After', '5']]);
      return true;
    }
    if (this.#o.mayAcknowledge?.() === false) {
      this.#c.alone.inc();
      this.proxy.reply(from, req, 503, 'Not Replicated Yet', [['Retry-After', '1']]);
      return true;
    }
    popLocalRoutes(this.#edge, req);
    this.#c.registers.inc();
    const nat = behindNat(req, from);
    const t = from.transport.toLowerCase();
    const l = this.#edge.listenerFor(from.iface, from.transport);
    const ctx: RegisterContext = {
      received: `sip:${from.address.includes(':') ? `[${from.address}]` : from.address}:${from.port}${t === 'udp' ? '' : `;transport=${t}`}`,
      socket: `${t}:${l?.address ?? ''}:${l?.port ?? 0}`,
      ...(from.iface.name === 'service' && this.#o.serviceTag !== undefined
        ? { shtag: this.#o.serviceTag }
        : {}),
      flags: nat ? FLAG_NAT : 0,
      ownPath: this.#ownPath(from, nat),
    };
    this.#pendingRegisters.push({ req, from, ctx });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flushRegisters());
    }
    return true;
  }

  /** A REGISTER that needs a transaction: edge mode forwards it upstream with our Path. */
  #register(req: SipMessage, from: Hop): RouteDecision<Hop> {
    this.#c.registers.inc();
    if (this.#o.config.upstream === undefined) return NOT_IMPLEMENTED;
    req.prependPath(this.#ownPath(from, behindNat(req, from)));
    const supported = req.supported().map((s) => s.toLowerCase());
    if (!supported.includes('path')) req.appendHeader('Supported', 'path');
    return this.#forwarding(req, [this.#upstreamTarget(from)], false, false);
  }

  /** Group commit: every REGISTER of this turn in one store transaction. */
  #flushRegisters(): void {
    this.#flushScheduled = false;
    const batch = this.#pendingRegisters.splice(0);
    if (batch.length === 0) return;
    let replies: SipMessage[];
    try {
      replies = this.#o.registrar!.saveMany(batch.map((b) => ({ request: b.req, ctx: b.ctx })));
    } catch (err) {
      // one REGISTER the registrar chokes on must not fail the others of its turn: each alone
      if (batch.length > 1) {
        for (const b of batch) this.#saveOne(b);
        return;
      }
      this.#registrarFailed(batch[0]!, err);
      return;
    }
    for (let i = 0; i < batch.length; i++) this.#edge.send(replies[i]!, batch[i]!.from);
  }

  #saveOne(b: { req: SipMessage; from: Hop; ctx: RegisterContext }): void {
    try {
      const [reply] = this.#o.registrar!.saveMany([{ request: b.req, ctx: b.ctx }]);
      this.#edge.send(reply!, b.from);
    } catch (err) {
      this.#registrarFailed(b, err);
    }
  }

  /** 400 for a REGISTER the registrar could not read, 500 (logged) for anything else. */
  #registrarFailed(b: { req: SipMessage; from: Hop }, err: unknown): void {
    if (err instanceof SipParseError) {
      this.#o.badInput?.record(err, b.from);
      this.proxy.reply(b.from, b.req, err.status, err.reasonPhrase);
      return;
    }
    this.#log.error({ err: (err as Error).message }, 'registrar failed');
    this.proxy.reply(b.from, b.req, 500, 'Server Internal Error');
  }

  #lookupAndFork(req: SipMessage, from: Hop): RouteDecision<Hop> | Promise<RouteDecision<Hop>> {
    const registrar = this.#o.registrar;
    const bindings = registrar === undefined ? [] : registrar.lookup(req.requestUri);
    const federated = req.has(FEDERATION_HEADER);
    if (bindings.length === 0) {
      const federation = this.#o.federation;
      if (federation !== undefined && !federated && req.toTag() === undefined) {
        return this.#forkToSites(req, from, federation);
      }
      this.#c.lookupMiss.inc();
      return NOT_FOUND;
    }
    const targets: ProxyTarget<Hop>[] = [];
    for (const b of bindings) {
      const branchReq = copyForTarget(req, b.uri, b.route);
      const local = popLocalRoutes(this.#edge, branchReq);
      const pathHop = local.find((l) => l.path);
      try {
        const hop = this.#hop(branchReq, pathHop, from);
        targets.push({ hop, direct: this.#direct(branchReq, pathHop), request: branchReq });
      } catch (err) {
        this.#log.debug({ err: (err as Error).message, contact: b.uri }, 'branch skipped');
      }
    }
    if (targets.length === 0) return UNAVAILABLE;
    // a request from another site had its media anchored there
    return this.#forwarding(req, targets, this.#o.config.record_route, !federated);
  }

  /** A local miss: the other sites holding the AoR, one branch each (no second hop). */
  async #forkToSites(
    req: SipMessage,
    from: Hop,
    federation: FederationRouting,
  ): Promise<RouteDecision<Hop>> {
    let aor: string;
    try {
      aor = federation.aorOf(req.requestUri);
    } catch {
      this.#c.lookupMiss.inc();
      return NOT_FOUND;
    }
    const sites = await federation.remoteSites(aor);
    const targets: ProxyTarget<Hop>[] = [];
    for (const { site, address } of sites) {
      const target = siteTarget(req, from, address, federation.site);
      this.#siteBranches.set(target, { aor, site });
      targets.push(target);
    }
    if (targets.length === 0) {
      this.#c.lookupMiss.inc();
      return NOT_FOUND;
    }
    return this.#forwarding(req, targets, this.#o.config.record_route, true);
  }

  /** ACK for a 2xx: follows the route set (the proxy forwards it statelessly). */
  routeAck(req: SipMessage, from: Hop): AckForwarding<Hop> | undefined {
    let local = popLocalRoutes(this.#edge, req);
    if (local.length === 0 && req.routes().length === 0) {
      const u = safeUri(req.requestUri);
      if (u !== undefined && isSipUri(u) && this.#edge.isLocalAddress(u.host, u.port)) {
        // a UA that ignored Record-Route: find the callee again (first binding)
        const b = u.user === null ? undefined : this.#o.registrar?.lookup(req.requestUri)[0];
        if (b === undefined) return undefined;
        req.setRequestUri(b.uri);
        for (let i = b.route.length - 1; i >= 0; i--) req.prependRoute(b.route[i]!);
        local = popLocalRoutes(this.#edge, req);
      }
    }
    const pathHop = local.find((l) => l.path);
    let hop: Hop;
    try {
      hop = this.#hop(req, pathHop, from);
    } catch {
      return undefined;
    }
    return { hop, session: local.some((l) => l.media) };
  }

  // ------------------------------------------------------------------ responses

  /**
   * A response from a UA reached directly over UDP: its private Contact is NAT-fixed. A 404
   * from another site: it no longer holds the AoR.
   */
  branchResponse(res: SipMessage, target: ProxyTarget<Hop>): void {
    if (res.status === 404) {
      const branch = this.#siteBranches.get(target);
      if (branch !== undefined) this.#o.federation?.notFound(branch.aor, branch.site);
    }
    if (target.direct && target.hop.transport.toUpperCase() === 'UDP') {
      fixNatedContact(res, target.hop);
    }
  }

  /** The answer to a NAT ping of ours. */
  strayResponse(res: SipMessage, _from: Hop): boolean {
    return this.#pinger.answer(res);
  }

  // ------------------------------------------------------------------ NAT pings

  /** `NatPinger` send: OPTIONS straight to the UA's NAT binding, from the socket it used. */
  get sendPing(): NatPingSender['send'] {
    return this.#pinger.send;
  }
}
