/**
 * The request router of the SIP edge: what an OpenSIPS edge/registrar script does, as code.
 *
 * - REGISTER: saved by the usrloc registrar (group commit per event-loop turn) with the NAT
 *   source as `received`, the receiving socket, the sharing tag of the service address, and
 *   this node's own Path hop carrying the source (`;received=`, `;flow=`), so requests for the
 *   user come back through the interface that holds the UA's NAT binding or connection. In
 *   edge mode the REGISTER gets the same Path and goes to the upstream registrar.
 * - initial requests to a served domain: `lookup`, then parallel forking to every binding over
 *   its Path route set; other initial requests: loose routing to the Request-URI / Route.
 *   Record-Route is added (two of them when the request changes interface).
 * - in-dialog requests follow their route set; ACK for 2xx is forwarded statelessly.
 * - CANCEL is answered 200 and cancels every pending branch; the INVITE then ends 487.
 * - responses: 100 absorbed, 1xx relayed, every 2xx relayed at once (other branches
 *   cancelled), otherwise the best final answer once every branch ended (RFC 3261 §16.7).
 * - media: offer/answer/delete through the embedded rtp-cluster (media.ts) for INVITE with
 *   SDP, 18x/2xx with SDP, late offer in the 2xx and its answer in the ACK, re-INVITE, BYE,
 *   CANCEL and failures. Only the node where a dialog enters the cluster anchors it (its
 *   Record-Route carries `;ma`), so a call crossing two nodes is relayed once.
 */

import type { Counter, StatisticsRegistry } from '@sipedge/mi';
import {
  addRecordRoute,
  type ClientTransaction,
  checkProxyRequest,
  createRequest,
  createResponse,
  decrementMaxForwards,
  fixTopVia,
  isSipUri,
  parseMessage,
  parseUri,
  responseDestination,
  type ServerTransaction,
  type SipMessage,
  SipParseError,
  type SipUri,
  statelessBranch,
  type Uri,
  uriParam,
} from '@sipedge/sip';
import type { NatPinger, Registrar } from '@sipedge/usrloc';
import { FLAG_NAT, type RegisterContext } from '@sipedge/usrloc';
import type { NodeConfig } from './config.js';
import { hasSdp, type MediaAnchor } from './media.js';
import { behindNat, fixNatedContact } from './nat.js';
import type { EdgeHandler, EdgeInterface, EdgeLogger, Hop, SipEdge } from './sip-edge.js';
import { SipEdge as Edge } from './sip-edge.js';

export interface RouterOptions {
  readonly config: NodeConfig['sip'];
  readonly edge: SipEdge;
  readonly registrar?: Registrar;
  readonly media?: MediaAnchor;
  /** Sharing tag stored on contacts registered through the service address. */
  readonly serviceTag?: string;
  readonly stats: StatisticsRegistry;
  readonly logger: EdgeLogger;
}

/** Where our own Route/Path hop says the request goes next (a Path hop names the UA). */
interface LocalHop {
  readonly iface: EdgeInterface | undefined;
  /** Our Path hop (`;pt`): the request goes on to the Request-URI's UA, never to lookup. */
  readonly path: boolean;
  readonly received?: { transport: string; address: string; port: number };
  readonly flow?: string;
  readonly media: boolean;
}

interface Branch {
  readonly request: SipMessage;
  readonly hop: Hop;
  readonly direct: boolean;
  tx?: ClientTransaction;
  provisional: boolean;
  final?: SipMessage;
  cancelWanted: boolean;
  cancelled: boolean;
}

interface ProxyCall {
  readonly stx: ServerTransaction;
  readonly request: SipMessage;
  readonly from: Hop;
  readonly branches: Branch[];
  readonly anchored: boolean;
  readonly offerSent: boolean;
  answered: boolean;
  best?: SipMessage;
  timer?: NodeJS.Timeout;
}

const UA_ALLOW =
  'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, PRACK, NOTIFY, REFER, MESSAGE, SUBSCRIBE';

function safeUri(s: string): Uri | undefined {
  try {
    return parseUri(s);
  } catch {
    return undefined;
  }
}

function hostOf(u: SipUri): string {
  return u.host.startsWith('[') ? u.host.slice(1, -1) : u.host;
}

function transportOf(u: SipUri): string {
  const t = uriParam(u, 'transport');
  if (typeof t === 'string' && t.length > 0) return t.toUpperCase();
  return u.scheme === 'sips' ? 'TLS' : 'UDP';
}

/**
 * What a REGISTER for this registrar must pass before `save` (which checks To, Contact,
 * Expires, Path and CSeq order itself, with OpenSIPS's replies): the headers a reply needs,
 * CSeq naming REGISTER, Max-Forwards not exhausted, a sip/sips Request-URI. Lighter than the
 * proxy's full validation, which parses every header of every REGISTER a second time.
 */
function registerCheck(req: SipMessage): { status: number; reason: string } | undefined {
  try {
    for (const key of ['to', 'from', 'call-id', 'cseq', 'via']) {
      if (!req.has(key)) return { status: 400, reason: `Missing ${key} header` };
    }
    if (req.topVia() === undefined) return { status: 400, reason: 'Bad Via' };
    if (req.callId().length === 0) return { status: 400, reason: 'Empty Call-ID' };
    if (req.cseq().method !== 'REGISTER') return { status: 400, reason: 'CSeq method mismatch' };
    if (req.maxForwards() === 0) return { status: 483, reason: 'Too Many Hops' };
    if (!/^sips?:/i.test(req.requestUri)) return { status: 416, reason: 'Unsupported URI Scheme' };
  } catch (err) {
    if (err instanceof SipParseError) return { status: err.status, reason: err.reasonPhrase };
    throw err;
  }
  return undefined;
}

/** Best final response of RFC 3261 §16.7 step 6: 6xx first, then the lowest class. */
function better(a: SipMessage, b: SipMessage | undefined): boolean {
  if (b === undefined) return true;
  const ca = Math.floor(a.status / 100);
  const cb = Math.floor(b.status / 100);
  if (cb === 6) return false;
  if (ca === 6) return true;
  if (ca !== cb) return ca < cb;
  // prefer challenges within 4xx (they can be answered)
  return (a.status === 401 || a.status === 407) && b.status !== 401 && b.status !== 407;
}

export class Router implements EdgeHandler {
  readonly #o: RouterOptions;
  readonly #edge: SipEdge;
  readonly #log: EdgeLogger;
  readonly #calls = new Map<ServerTransaction, ProxyCall>();
  readonly #pendingRegisters: { req: SipMessage; from: Hop; ctx: RegisterContext }[] = [];
  #flushScheduled = false;
  readonly #pings = new Map<string, (status: number) => void>();
  readonly #c: Record<string, Counter>;

  constructor(options: RouterOptions) {
    this.#o = options;
    this.#edge = options.edge;
    this.#log = options.logger;
    const s = options.stats;
    this.#c = {
      registers: s.counter('sip', 'registers'),
      forwarded: s.counter('sip', 'requests_forwarded'),
      replied: s.counter('sip', 'local_replies'),
      lookupMiss: s.counter('sip', 'lookup_404'),
      cancels: s.counter('sip', 'cancels'),
      drained: s.counter('sip', 'drain_503'),
      stray: s.counter('sip', 'stray_responses_dropped'),
    };
  }

  // ------------------------------------------------------------------ requests

  onRequest(req: SipMessage, tx: ServerTransaction | undefined, from: Hop): void {
    try {
      this.#route(req, tx, from);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, method: req.method }, 'SIP routing failed');
      if (tx !== undefined) this.#reply(tx, req, 500, 'Server Internal Error');
    }
  }

  #route(req: SipMessage, tx: ServerTransaction | undefined, from: Hop): void {
    if (tx === undefined) {
      // ACK for a 2xx (no transaction): in-dialog, forwarded statelessly
      if (req.method === 'ACK') this.#forwardAck(req, from);
      return;
    }
    const inDialog = req.toTag() !== undefined;
    if (this.#edge.draining && !inDialog && req.method !== 'CANCEL') {
      this.#c.drained!.inc();
      this.#reply(tx, req, 503, 'Service Unavailable', [['Retry-After', '5']]);
      return;
    }
    if (req.method === 'CANCEL') {
      this.#cancel(req, tx);
      return;
    }
    const rejection = checkProxyRequest(req);
    if (rejection !== undefined) {
      this.#reply(tx, req, rejection.status, rejection.reason, rejection.headers);
      return;
    }
    // RFC 3261 §16.2: a stateful proxy answers an INVITE 100 at once (stops retransmissions)
    if (req.method === 'INVITE') tx.respond(createResponse(req, 100, 'Trying'));
    fixTopVia(req, from.address, from.port);
    // straight from a UA behind NAT: its private Contact becomes its NAT binding, so that
    // in-dialog requests towards it reach it (nathelper fix_nated_contact)
    if (req.vias().length === 1 && from.transport.toUpperCase() === 'UDP') {
      fixNatedContact(req, from);
    }
    const local = this.#popLocalRoutes(req);
    const ruri = safeUri(req.requestUri);
    const toMe =
      ruri !== undefined &&
      isSipUri(ruri) &&
      this.#edge.isLocalAddress(ruri.host, ruri.port) &&
      req.routes().length === 0;

    if (req.method === 'REGISTER' && req.routes().length === 0) {
      // edge mode (registrar mode answered it statelessly already)
      this.#register(req, tx, from);
      return;
    }
    if (toMe && local.length === 0 && (ruri as SipUri).user === null) {
      if (req.method === 'OPTIONS') {
        this.#reply(tx, req, 200, 'OK', [
          ['Allow', UA_ALLOW],
          ['Accept', 'application/sdp'],
        ]);
      } else
        this.#reply(
          tx,
          req,
          inDialog ? 481 : 404,
          inDialog ? 'Call/Transaction Does Not Exist' : 'Not Found',
        );
      return;
    }
    const pathHop = local.find((l) => l.path);
    const anchoredHere = local.some((l) => l.media);

    if (inDialog && toMe && local.length === 0) {
      // an in-dialog request from a UA that ignored Record-Route (sipp's built-in uac does):
      // its Request-URI names us, so the callee is found again by lookup
      this.#lookupAndFork(req, tx, from);
      return;
    }
    if (inDialog || pathHop !== undefined || req.routes().length > 0) {
      // in-dialog, a Path hop back to a UA, or a pre-loaded route: follow it
      this.#forward(req, tx, from, [this.#nextHop(req, pathHop, from)], {
        recordRoute: !inDialog && this.#o.config.record_route,
        anchor: inDialog ? anchoredHere : false,
      });
      return;
    }
    // initial request without a route
    if (this.#servesDomain(ruri)) {
      if (this.#o.config.mode === 'edge') {
        this.#forward(req, tx, from, [this.#upstreamHop(from)], {
          recordRoute: this.#o.config.record_route,
          anchor: true,
        });
        return;
      }
      this.#lookupAndFork(req, tx, from);
      return;
    }
    this.#forward(req, tx, from, [this.#nextHop(req, undefined, from)], {
      recordRoute: this.#o.config.record_route,
      anchor: true,
    });
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

  /** Removes the Route values that name us; returns what they said. */
  #popLocalRoutes(req: SipMessage): LocalHop[] {
    const out: LocalHop[] = [];
    for (let i = 0; i < 4; i++) {
      const top = req.routes()[0];
      if (top === undefined) break;
      const u = safeUri(top.uri);
      if (u === undefined || !isSipUri(u) || !this.#edge.isLocalAddress(u.host, u.port)) break;
      req.removeTopRoute();
      const iface = this.#edge.interfaces.find((f) =>
        f.listeners.some((l) => l.address === hostOf(u) && l.port === (u.port ?? 5060)),
      );
      const rcv = uriParam(u, 'received');
      let received: LocalHop['received'];
      if (typeof rcv === 'string') {
        const r = safeUri(decodeURIComponent(rcv));
        if (r !== undefined && isSipUri(r) && r.port !== null) {
          received = { transport: transportOf(r), address: hostOf(r), port: r.port };
        }
      }
      const flow = uriParam(u, 'flow');
      out.push({
        iface,
        path: uriParam(u, 'pt') !== undefined,
        ...(received === undefined ? {} : { received }),
        ...(typeof flow === 'string' && flow.length > 0 ? { flow: decodeURIComponent(flow) } : {}),
        media: uriParam(u, 'ma') !== undefined,
      });
    }
    return out;
  }

  /** The next hop of a request: a Path hop's UA, else the top Route, else the Request-URI. */
  #nextHop(req: SipMessage, pathHop: LocalHop | undefined, from: Hop): Target {
    if (pathHop?.received !== undefined) {
      const iface = pathHop.iface ?? from.iface;
      return {
        hop: {
          transport: pathHop.received.transport,
          address: pathHop.received.address,
          port: pathHop.received.port,
          ...(pathHop.flow !== undefined && iface.transports.flow(pathHop.flow) !== undefined
            ? { flow: pathHop.flow }
            : {}),
          iface,
        },
        direct: true,
      };
    }
    const top = req.routes()[0];
    const u = parseUri(top === undefined ? req.requestUri : top.uri);
    if (!isSipUri(u)) throw new Error('next hop is not a SIP URI');
    const transport = transportOf(u);
    return {
      hop: {
        transport,
        address: hostOf(u),
        port: u.port ?? (transport === 'TLS' ? 5061 : 5060),
        // a Path hop of ours leaves by the interface the UA registered through
        iface: pathHop?.iface ?? from.iface,
      },
      direct: top === undefined,
    };
  }

  #upstreamHop(from: Hop): Target {
    const up = this.#o.config.upstream!;
    const i = up.address.lastIndexOf(':');
    return {
      hop: {
        transport: up.proto.toUpperCase(),
        address: up.address.slice(0, i).replace(/^\[|\]$/g, ''),
        port: Number(up.address.slice(i + 1)),
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
  onStateless(req: SipMessage, from: Hop): boolean {
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
    const rejection = registerCheck(req);
    if (rejection !== undefined) {
      this.#reply(from, req, rejection.status, rejection.reason);
      return true;
    }
    if (this.#edge.draining) {
      this.#c.drained!.inc();
      this.#reply(from, req, 503, 'Service Unavailable', [['Retry-After', '5']]);
      return true;
    }
    this.#popLocalRoutes(req);
    this.#c.registers!.inc();
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
  #register(req: SipMessage, tx: ServerTransaction, from: Hop): void {
    this.#c.registers!.inc();
    if (this.#o.config.upstream === undefined) {
      this.#reply(tx, req, 501, 'Not Implemented');
      return;
    }
    req.prependPath(this.#ownPath(from, behindNat(req, from)));
    const supported = req.supported().map((s) => s.toLowerCase());
    if (!supported.includes('path')) req.appendHeader('Supported', 'path');
    this.#forward(req, tx, from, [this.#upstreamHop(from)], {
      recordRoute: false,
      anchor: false,
    });
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
      this.#log.error({ err: (err as Error).message }, 'registrar failed');
      for (const b of batch) this.#reply(b.from, b.req, 500, 'Server Internal Error');
      return;
    }
    for (let i = 0; i < batch.length; i++) this.#edge.send(replies[i]!, batch[i]!.from);
  }

  #lookupAndFork(req: SipMessage, tx: ServerTransaction, from: Hop): void {
    const registrar = this.#o.registrar;
    const branches = registrar === undefined ? [] : registrar.lookup(req.requestUri);
    if (branches.length === 0) {
      this.#c.lookupMiss!.inc();
      this.#reply(tx, req, 404, 'Not Found');
      return;
    }
    const targets: Target[] = [];
    for (const b of branches) {
      const branchReq = Edge.clone(req);
      branchReq.setRequestUri(b.uri);
      for (let i = b.route.length - 1; i >= 0; i--) branchReq.prependRoute(b.route[i]!);
      const local = this.#popLocalRoutes(branchReq);
      const pathHop = local.find((l) => l.path);
      try {
        const t = this.#nextHop(branchReq, pathHop, from);
        targets.push({ hop: t.hop, direct: t.direct, request: branchReq });
      } catch (err) {
        this.#log.debug({ err: (err as Error).message, contact: b.uri }, 'branch skipped');
      }
    }
    if (targets.length === 0) {
      this.#reply(tx, req, 480, 'Temporarily Unavailable');
      return;
    }
    this.#forward(req, tx, from, targets, {
      recordRoute: this.#o.config.record_route,
      anchor: true,
    });
  }

  // ------------------------------------------------------------------ stateful forwarding

  #forward(
    req: SipMessage,
    tx: ServerTransaction,
    from: Hop,
    targets: Target[],
    options: { recordRoute: boolean; anchor: boolean },
  ): void {
    decrementMaxForwards(req);
    const media = this.#o.media;
    const isInvite = req.method === 'INVITE';
    const anchor = media !== undefined && options.anchor;
    const offer = anchor && isInvite && hasSdp(req);
    const go = () => {
      const call: ProxyCall = {
        stx: tx,
        request: req,
        from,
        branches: [],
        anchored: anchor && isInvite,
        offerSent: offer,
        answered: false,
      };
      this.#calls.set(tx, call);
      for (const t of targets) {
        const b = t.request ?? Edge.clone(req);
        if (t.request !== undefined) {
          // a fork branch was cloned before the common edits: apply them
          const mf = req.maxForwards();
          if (mf !== undefined) b.setHeader('Max-Forwards', String(mf));
          if (offer) b.setBody(req.body);
        }
        if (options.recordRoute) {
          const params = anchor && isInvite ? ';ma' : '';
          const inbound = this.#edge.uriFor(from.iface, from.transport, params);
          const outbound =
            t.hop.iface !== from.iface ||
            t.hop.transport.toUpperCase() !== from.transport.toUpperCase()
              ? this.#edge.uriFor(t.hop.iface, t.hop.transport, params)
              : undefined;
          addRecordRoute(b, inbound, outbound);
        }
        b.prependVia(this.#edge.viaFor(t.hop.iface, t.hop.transport));
        const branch: Branch = {
          request: b,
          hop: t.hop,
          direct: t.direct,
          provisional: false,
          cancelWanted: false,
          cancelled: false,
        };
        call.branches.push(branch);
        this.#c.forwarded!.inc();
        branch.tx = this.#edge.layer.request(b, t.hop, {
          onResponse: (res) => this.#onBranchResponse(call, branch, res),
          onTimeout: () =>
            this.#onBranchResponse(call, branch, createResponse(b, 408, 'Request Timeout')),
        });
      }
      if (isInvite) {
        call.timer = setTimeout(() => this.#expire(call), this.#o.config.fr_inv_timeout * 1000);
        call.timer.unref?.();
      }
    };
    // BYE ends the media of a dialog anchored here
    if (req.method === 'BYE' && media !== undefined && options.anchor) {
      void media.release(req.callId(), req.fromTag() ?? '', req.toTag());
    }
    if (!offer) {
      go();
      return;
    }
    media!
      .anchor(req, 'offer', { reversed: false, sourceIp: from.address })
      .then(() => go())
      .catch((err: unknown) => {
        this.#log.warn({ err: (err as Error).message }, 'media offer failed');
        go();
      });
  }

  #onBranchResponse(call: ProxyCall, branch: Branch, res: SipMessage): void {
    try {
      this.#branchResponse(call, branch, res);
    } catch (err) {
      // timer callbacks land here too: never let a malformed response escape
      this.#log.warn({ err: (err as Error).message, status: res.status }, 'response dropped');
    }
  }

  #branchResponse(call: ProxyCall, branch: Branch, res: SipMessage): void {
    if (res.status === 100) return;
    if (branch.final !== undefined) return;
    if (res.status < 200) {
      branch.provisional = true;
      if (branch.cancelWanted) this.#sendCancel(branch);
    } else {
      branch.final = res;
    }
    // responses made by the transaction layer (408) carry no Via of ours to remove
    if (res.vias().length > call.request.vias().length) res.removeTopVia();
    if (branch.direct && branch.hop.transport.toUpperCase() === 'UDP')
      fixNatedContact(res, branch.hop);
    const relay = () => this.#relay(call, branch, res);
    const media = this.#o.media;
    const call2xxOr18x = res.status >= 180 && res.status < 300 && call.request.method === 'INVITE';
    if (media !== undefined && call.anchored && call2xxOr18x && hasSdp(res)) {
      const role = call.offerSent ? 'answer' : 'offer';
      media
        .anchor(res, role, { reversed: role === 'offer', sourceIp: branch.hop.address })
        .then(relay, relay)
        .catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'relay failed'));
      return;
    }
    relay();
  }

  #relay(call: ProxyCall, branch: Branch, res: SipMessage): void {
    const status = res.status;
    if (call.answered) {
      // every 2xx goes upstream (RFC 3261 §16.7 step 5); after the first, statelessly
      if (status >= 200 && status < 300) this.#sendResponse(res, call.from);
      return;
    }
    if (status < 200) {
      call.stx.respond(res);
      return;
    }
    if (status < 300) {
      call.answered = true;
      this.#finish(call);
      call.stx.respond(res);
      for (const b of call.branches) if (b !== branch) this.#cancelBranch(b);
      return;
    }
    if (status >= 600) for (const b of call.branches) if (b !== branch) this.#cancelBranch(b);
    if (better(res, call.best)) call.best = res;
    if (call.branches.every((b) => b.final !== undefined)) {
      call.answered = true;
      this.#finish(call);
      const best = call.best ?? res;
      call.stx.respond(best);
      if (call.anchored && this.#o.media !== undefined) {
        void this.#o.media.release(call.request.callId(), call.request.fromTag() ?? '');
      }
    }
  }

  #finish(call: ProxyCall): void {
    if (call.timer !== undefined) clearTimeout(call.timer);
    this.#calls.delete(call.stx);
  }

  /** fr_inv_timeout: pending branches are cancelled; they end 487 (or 408 via timer B). */
  #expire(call: ProxyCall): void {
    for (const b of call.branches) this.#cancelBranch(b);
  }

  #cancelBranch(b: Branch): void {
    if (b.final !== undefined || b.cancelled) return;
    if (b.request.method !== 'INVITE') return;
    if (!b.provisional) {
      b.cancelWanted = true; // sent when a provisional arrives (RFC 3261 §9.1)
      return;
    }
    this.#sendCancel(b);
  }

  #sendCancel(b: Branch): void {
    if (b.cancelled) return;
    b.cancelled = true;
    const r = b.request;
    const headers: [string, string][] = [['Via', r.values('via')[0]!]];
    for (const route of r.values('route')) headers.push(['Route', route]);
    headers.push(
      ['Max-Forwards', '70'],
      ['From', r.header('from') ?? ''],
      ['To', r.header('to') ?? ''],
      ['Call-ID', r.callId()],
      ['CSeq', `${r.cseq().seq} CANCEL`],
    );
    const cancel = createRequest({ method: 'CANCEL', uri: r.requestUri, headers });
    this.#edge.layer.request(cancel, b.hop, {});
  }

  #cancel(req: SipMessage, tx: ServerTransaction): void {
    this.#c.cancels!.inc();
    const invite = this.#edge.layer.findInviteForCancel(req);
    if (invite === undefined) {
      this.#reply(tx, req, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.#reply(tx, req, 200, 'OK');
    const call = this.#calls.get(invite);
    if (call === undefined) {
      // not forwarded (yet): answer the INVITE ourselves
      if (invite.state === 'proceeding' || invite.state === 'trying') {
        invite.respond(
          createResponse(invite.request, 487, 'Request Terminated', { toTag: this.#tag() }),
        );
      }
      return;
    }
    // branches with a provisional answer get CANCEL now, the others when one arrives
    for (const b of call.branches) this.#cancelBranch(b);
    if (call.anchored && this.#o.media !== undefined) {
      void this.#o.media.release(req.callId(), req.fromTag() ?? '');
    }
    // if no branch ever answered, answer 487 now rather than after timer B
    if (call.branches.every((b) => !b.provisional && b.final === undefined)) {
      call.best = createResponse(call.request, 487, 'Request Terminated', { toTag: this.#tag() });
      call.answered = true;
      this.#finish(call);
      call.stx.respond(call.best);
    }
  }

  /** ACK for a 2xx: follows the route set, statelessly (its branch is derived, RFC 3261 §16.11). */
  #forwardAck(req: SipMessage, from: Hop): void {
    let local = this.#popLocalRoutes(req);
    if (local.length === 0 && req.routes().length === 0) {
      const u = safeUri(req.requestUri);
      if (u !== undefined && isSipUri(u) && this.#edge.isLocalAddress(u.host, u.port)) {
        // a UA that ignored Record-Route: find the callee again (first binding)
        const b = u.user === null ? undefined : this.#o.registrar?.lookup(req.requestUri)[0];
        if (b === undefined) return;
        req.setRequestUri(b.uri);
        for (let i = b.route.length - 1; i >= 0; i--) req.prependRoute(b.route[i]!);
        local = this.#popLocalRoutes(req);
      }
    }
    const pathHop = local.find((l) => l.path);
    let target: Target;
    try {
      target = this.#nextHop(req, pathHop, from);
    } catch {
      return;
    }
    decrementMaxForwards(req);
    fixTopVia(req, from.address, from.port);
    const send = () => {
      req.prependVia(
        this.#edge.viaFor(target.hop.iface, target.hop.transport, statelessBranch(req)),
      );
      this.#edge.send(req, target.hop);
    };
    const media = this.#o.media;
    if (media !== undefined && local.some((l) => l.media) && hasSdp(req)) {
      // the answer to a late offer
      media
        .anchor(req, 'answer', { reversed: true, sourceIp: from.address })
        .then(send, send)
        .catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'ACK dropped'));
      return;
    }
    send();
  }

  // ------------------------------------------------------------------ responses

  /** A response no client transaction wanted: a 2xx retransmission, or a NAT ping answer. */
  onStrayResponse(res: SipMessage, from: Hop): void {
    const ping = this.#pings.get(res.callId());
    if (ping !== undefined) {
      ping(res.status);
      return;
    }
    const via = res.topVia();
    if (
      via === undefined ||
      !this.#edge.isLocalAddress(via.host, via.port) ||
      res.vias().length < 2
    ) {
      this.#c.stray!.inc();
      return;
    }
    res.removeTopVia();
    this.#sendResponse(res, from);
  }

  /** Sends a response (our Via removed) to its next Via, by `via`'s interface. */
  #sendResponse(res: SipMessage, via: Hop): void {
    const next = res.topVia();
    if (next === undefined) return;
    const d = responseDestination(next);
    this.#edge.send(res, {
      transport: d.transport,
      address: d.address,
      port: d.port,
      iface: via.iface,
    });
  }

  // ------------------------------------------------------------------ NAT pings

  /** `NatPinger` send: OPTIONS straight to the UA's NAT binding, from the socket it used. */
  sendPing: ConstructorParameters<typeof NatPinger>[0]['send'] = (ping) => {
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
    this.#popLocalRoutes(msg);
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

  // ------------------------------------------------------------------ helpers

  #tagSeq = 0;
  readonly #tagPrefix = Math.floor(Math.random() * 2 ** 32).toString(36);
  #tag(): string {
    this.#tagSeq++;
    return `${this.#tagPrefix}${this.#tagSeq.toString(36)}`;
  }

  /** A locally made response: through the server transaction, or statelessly to `from`. */
  #reply(
    to: ServerTransaction | Hop,
    req: SipMessage,
    status: number,
    reason: string,
    headers?: ReadonlyArray<readonly [string, string]>,
  ): void {
    this.#c.replied!.inc();
    try {
      const res = createResponse(req, status, reason, {
        toTag: this.#tag(),
        ...(headers === undefined ? {} : { headers }),
      });
      if ('respond' in to) to.respond(res);
      else this.#edge.send(res, to);
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'cannot answer request');
    }
  }

  /** Live proxied INVITE/non-INVITE contexts (for drain and tests). */
  get activeCalls(): number {
    return this.#calls.size;
  }
}

interface Target {
  readonly hop: Hop;
  /** The hop is the UA itself (not another proxy): its responses' Contact may be NAT-fixed. */
  readonly direct: boolean;
  /** A fork branch's own copy of the request (lookup). */
  readonly request?: SipMessage;
}

function parseSipSafe(buf: Buffer): SipMessage | undefined {
  try {
    return parseMessage(buf);
  } catch {
    return undefined;
  }
}
